"""What every Kubernetes controller does to turn a pod template into a pod.

`GetPodFromTemplate` in kubernetes `pkg/controller/controller_utils.go`: the template's labels,
annotations and finalizers, `generateName` of the owner's name and a dash, the owner as the
controller reference (`metav1.NewControllerRef`: `controller` and `blockOwnerDeletion` true),
and a copy of the template's spec.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]

# `rand.SafeEncodeString` (k8s.io/apimachinery/pkg/util/rand): the alphabet of template hashes.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_UID_NAMESPACE = uuid.UUID("6f1d5c4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f")


class NoTemplate(Exception):
    """A workload whose pod template cannot be read; the message says what is missing."""


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name") or meta(obj).get("generateName") or "")


def uid_of(obj: Mapping[str, Any]) -> str:
    """The object's uid, or, for a manifest that has none yet, a fixed one made from its
    kind, namespace and name, so that a preview prints the same pods every time."""
    uid = meta(obj).get("uid")
    if isinstance(uid, str) and uid:
        return uid
    key = f"{obj.get('kind')}/{meta(obj).get('namespace') or ''}/{name_of(obj)}"
    return str(uuid.uuid5(_UID_NAMESPACE, key))


def template_hash(value: Any) -> str:
    """A hash of the shape `controller.ComputeHash` gives (FNV-32a, safe-encoded decimal).

    Not the same value: upstream hashes the Go struct as `hashutil.DeepHashObject` prints it.
    Policies that match on the label's presence or on other labels see what they would see.
    """
    digest = 0x811C9DC5
    for byte in json.dumps(value, sort_keys=True, separators=(",", ":")).encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(digest))


def controller_ref(owner: Mapping[str, Any], api_version: str, kind: str) -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_template(owner: Mapping[str, Any]) -> Obj:
    """A deep copy of `spec.template` (for a CronJob, of the Job template's)."""
    spec = owner.get("spec")
    template = spec.get("template") if isinstance(spec, Mapping) else None
    if not isinstance(template, Mapping) or not isinstance(template.get("spec"), Mapping):
        raise NoTemplate("no spec.template.spec to build a pod from")
    out: Obj = copy.deepcopy(dict(template))
    for key in ("labels", "annotations"):
        value = out.setdefault("metadata", {}).get(key)
        out["metadata"][key] = dict(value) if isinstance(value, Mapping) else {}
    return out


def pod_from_template(template: Mapping[str, Any], owner: Mapping[str, Any], ref: Obj) -> Obj:
    """`GetPodFromTemplate`, and the namespace the controller creates the pod in."""
    template_meta = template.get("metadata") or {}
    metadata: Obj = {
        "generateName": f"{name_of(owner)}-",
        "namespace": meta(owner).get("namespace"),
        "labels": dict(template_meta.get("labels") or {}),
        "annotations": dict(template_meta.get("annotations") or {}),
        "finalizers": list(template_meta.get("finalizers") or []),
    }
    metadata = {k: v for k, v in metadata.items() if v not in (None, {}, [])}
    metadata["ownerReferences"] = [ref]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": copy.deepcopy(template["spec"]),
    }
