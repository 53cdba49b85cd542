"""Representative pods: one of each recognised workload, on CPU or on each extended resource
the pools offer, with and without a placement of its own, evictable or not. Each pod carries
only the signature its controller gives it (`webhook.kube.workloads`): a test checks that every
workload name has one and that it is recognised as that name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.kube.workloads import WORKLOADS

SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"

Owner = tuple[str, str] | None  # (apiVersion, kind)

# (labels, annotations, controller owner) that make each workload recognised.
SIGNATURES: dict[str, tuple[dict[str, str], dict[str, str], Owner]] = {
    "daemonset": ({}, {}, ("apps/v1", "DaemonSet")),
    "mirror": ({}, {"kubernetes.io/config.mirror": "0f3c"}, ("v1", "Node")),
    "kubeflow-pipeline-driver": (
        {"workflows.argoproj.io/workflow": "run-1", "pipeline/runid": "7d1c"},
        {"pipelines.kubeflow.org/runtime-role": "driver"},
        ("argoproj.io/v1alpha1", "Workflow"),
    ),
    "kubeflow-pipeline": (
        {"workflows.argoproj.io/workflow": "run-1", "pipeline/runid": "7d1c"},
        {},
        ("argoproj.io/v1alpha1", "Workflow"),
    ),
    "argo-workflow": (
        {"workflows.argoproj.io/workflow": "etl-1"},
        {},
        ("argoproj.io/v1alpha1", "Workflow"),
    ),
    "kubeflow-training": (
        {"training.kubeflow.org/job-name": "train", "training.kubeflow.org/replica-type": "worker"},
        {},
        ("kubeflow.org/v1", "PyTorchJob"),
    ),
    "jobset": ({"jobset.sigs.k8s.io/jobset-name": "trainer"}, {}, ("batch/v1", "Job")),
    "ray": (
        {"ray.io/cluster": "rc", "ray.io/node-type": "worker"},
        {},
        ("ray.io/v1", "RayCluster"),
    ),
    "spark": ({"spark-role": "executor", "spark-app-selector": "spark-1"}, {}, ("v1", "Pod")),
    "notebook": ({"notebook-name": "nb"}, {}, ("apps/v1", "StatefulSet")),
    "jupyterhub": ({"component": "singleuser-server"}, {}, None),
    "model-server": (
        {"serving.kserve.io/inferenceservice": "iris", "component": "predictor"},
        {},
        ("apps/v1", "ReplicaSet"),
    ),
    "airflow": ({"kubernetes_pod_operator": "True", "dag_id": "etl"}, {}, None),
    "job": ({}, {}, ("batch/v1", "Job")),
    "data-store": ({"app.kubernetes.io/name": "postgresql"}, {}, ("apps/v1", "ReplicaSet")),
    "statefulset": ({}, {}, ("apps/v1", "StatefulSet")),
    "deployment": ({}, {}, ("apps/v1", "ReplicaSet")),
    "other": ({}, {}, ("example.com/v1", "Widget")),
    "bare": ({}, {}, None),
}

# How a violation names the pod: "a GPU notebook".
NAMES: dict[str, str] = {
    "kubeflow-pipeline": "Kubeflow Pipelines step",
    "kubeflow-pipeline-driver": "Kubeflow Pipelines driver pod",
    "model-server": "model server",
    "airflow": "Airflow task pod",
    "data-store": "data store",
    "argo-workflow": "Argo workflow step",
    "kubeflow-training": "training job worker",
    "jobset": "JobSet pod",
    "ray": "Ray worker",
    "spark": "Spark executor",
    "jupyterhub": "JupyterHub server",
    "job": "Job pod",
    "statefulset": "StatefulSet pod",
    "deployment": "Deployment pod",
    "other": "pod of another controller",
    "bare": "pod with no controller",
    "daemonset": "DaemonSet pod",
    "mirror": "static pod",
}


@dataclass(frozen=True)
class Representative:
    description: str
    workload: str
    extended: tuple[str, ...]
    pod: Mapping[str, Any]


def representatives(
    resources: list[str], own_placements: Mapping[str, tuple[dict[str, str], list[Any]]]
) -> Iterator[Representative]:
    """Every workload x (CPU, each of `resources`) x (no placement, its own: a nodeSelector and
    tolerations from `own_placements`, keyed by resource, "" for CPU) x (evictable or not)."""
    for workload in WORKLOADS:
        for resource in ["", *resources]:
            for own in (False, True):
                if own and resource not in own_placements:
                    continue
                for evictable in (True, False):
                    yield _representative(
                        workload, resource, own_placements.get(resource) if own else None, evictable
                    )


def _representative(
    workload: str,
    resource: str,
    own: tuple[dict[str, str], list[Any]] | None,
    evictable: bool,
) -> Representative:
    labels, annotations, owner = SIGNATURES[workload]
    annotations = dict(annotations)
    if not evictable:
        annotations[SAFE_TO_EVICT] = "false"
    metadata: dict[str, Any] = {
        "name": f"{workload}-example",
        "labels": dict(labels),
        "annotations": annotations,
    }
    if owner is not None:
        controller = {"apiVersion": owner[0], "kind": owner[1], "name": "owner", "uid": "0f3c"}
        metadata["ownerReferences"] = [{**controller, "controller": True}]
    spec = _spec(resource)
    if own is not None:
        spec["nodeSelector"], spec["tolerations"] = dict(own[0]), list(own[1])
    return Representative(
        _description(workload, resource, own is not None, evictable),
        workload,
        (resource,) if resource else (),
        {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec},
    )


def _spec(resource: str) -> dict[str, Any]:
    requests = {"cpu": "1", **({resource: "1"} if resource else {})}
    resources = {"requests": requests, "limits": dict(requests)}
    return {"containers": [{"name": "main", "image": "example.com/main:1", "resources": resources}]}


def _description(workload: str, resource: str, own: bool, evictable: bool) -> str:
    kind = "GPU" if resource == "nvidia.com/gpu" else (resource or "CPU")
    description = f"a {kind} {NAMES.get(workload, workload)}"
    if own:
        description += " with its own placement"
    if not evictable:
        description += " annotated safe-to-evict false"
    return description
