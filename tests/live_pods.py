"""Pods as a live cluster dump has them (`kubectl get pods -A -o json`): the golden pods of the
ML stack (tests/cases/workloads/*.in.yaml, each as its controller writes it), after the
apiserver and the components behind it have done their part.

What a bound, running pod has that the pod at admission had not: a name generated from
`generateName` (the registry's `BeforeCreate`), `uid`, `resourceVersion`, `creationTimestamp`,
`managedFields` (the creator's entry, then the kubelet's status entry), `spec.nodeName` (the
scheduler's binding; mirror pods are created with it), and a `status` from the kubelet.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
WORKLOADS = Path(__file__).parent / "cases" / "workloads"
NAMES = sorted(p.name.removesuffix(".in.yaml") for p in WORKLOADS.glob("*.in.yaml"))
CREATED = "2026-03-02T08:15:04Z"
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# The manager each controller's client-go user agent records (kube-controller-manager for the
# built-in controllers; the operators' own names otherwise); the kubelet for mirror pods.
MANAGERS = {"Node": "kubelet", "Workflow": "workflow-controller", "Notebook": "manager",
            "RayCluster": "kuberay-operator", "SparkApplication": "spark-operator"}  # fmt: skip


def golden_pods() -> list[Doc]:
    return [yaml.safe_load((WORKLOADS / f"{n}.in.yaml").read_text()) for n in NAMES]


def live(pod: Doc, index: int, node: str = "ip-10-0-11-20.ec2.internal") -> Doc:
    out = copy.deepcopy(pod)
    meta, spec = out["metadata"], out["spec"]
    digest = hashlib.sha256(f"{index}/{meta.get('name') or meta.get('generateName')}".encode())
    if not meta.get("name"):  # the registry's generator: five of utilrand's characters
        meta["name"] = meta["generateName"][:58] + "".join(
            ALPHABET[b % len(ALPHABET)] for b in digest.digest()[:5]
        )
    owner = (meta.get("ownerReferences") or [{}])[0].get("kind", "")
    creator_fields: Doc = {"f:metadata": {"f:labels": {".": {}}},
                           "f:spec": {"f:containers": {}, "f:restartPolicy": {}}}  # fmt: skip
    if spec.get("nodeName"):  # a mirror pod: the kubelet creates it bound
        creator_fields["f:spec"]["f:nodeName"] = {}
    meta |= {
        "uid": str(uuid.UUID(digest.hexdigest()[:32])),
        "resourceVersion": str(1000 + index),
        "creationTimestamp": CREATED,
        "managedFields": [
            {"manager": MANAGERS.get(owner, "kube-controller-manager"), "operation": "Update",
             "apiVersion": "v1", "time": CREATED, "fieldsType": "FieldsV1",
             "fieldsV1": creator_fields},
            {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": CREATED,
             "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:phase": {}}},
             "subresource": "status"},
        ],
    }  # fmt: skip
    spec.setdefault("nodeName", node)
    names = [c["name"] for c in spec.get("containers", [])]
    out["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None,
                        "lastTransitionTime": CREATED}],
        "hostIP": "10.0.11.20",
        "podIP": f"10.1.{index % 250}.{index % 200 + 2}",
        "startTime": CREATED,
        "containerStatuses": [{"name": n, "ready": True, "restartCount": 0, "started": True,
                               "image": "x", "imageID": "x@sha256:0", "containerID":
                               f"containerd://{digest.hexdigest()}",
                               "state": {"running": {"startedAt": CREATED}}} for n in names],
        "qosClass": "Burstable",
    }  # fmt: skip
    return out


def dump(pods: list[Doc]) -> Doc:
    """`kubectl get pods -A -o json`: a List of every pod, each with its kind."""
    return {"apiVersion": "v1", "items": [live(p, i) for i, p in enumerate(pods)],
            "kind": "List", "metadata": {"resourceVersion": ""}}  # fmt: skip
