"""Recognising which controller or ML framework made a pod, from what it carries at CREATE.

Signatures are the labels, annotations and controller owners each project sets on its pods
(Argo `workflow/controller/workflowpod.go`, KFP compiler, training-operator `pod.go`, KubeRay
`labelPod`, Spark `Constants.scala`, kubespawner). Order matters: a KFP pod is also an Argo pod,
a notebook pod is also a StatefulSet pod; the more specific signature wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from webhook.kube.pod import MIRROR_ANNOTATION, Pod, annotations_of, labels_of, owner_kind_names

Workload = Literal[
    "daemonset",
    "mirror",
    "kubeflow-pipeline",
    "argo-workflow",
    "kubeflow-training",
    "jobset",
    "ray",
    "spark",
    "notebook",
    "jupyterhub",
    "job",
    "statefulset",
    "deployment",
    "other",
    "bare",
]
WORKLOADS: tuple[Workload, ...] = get_args(Workload)


def workload_of(pod: Pod) -> Workload:
    """One name from WORKLOADS: `other` for a pod whose controller is of a kind not listed
    (an Argo Rollout, a custom operator), `bare` for a pod with no controller at all."""
    return workload_from(labels_of(pod), annotations_of(pod), owner_kind_names(pod))


def workload_from(
    pod_labels: Mapping[str, Any], annotations: Mapping[str, Any], owner: tuple[str, str]
) -> Workload:
    """`workload_of` from what a caller has already read of the pod."""
    kind, group_kind = owner
    if kind == "DaemonSet":
        return "daemonset"
    if MIRROR_ANNOTATION in annotations:
        return "mirror"
    if "workflows.argoproj.io/workflow" in pod_labels or group_kind == "argoproj.io/Workflow":
        if "pipeline/runid" in pod_labels or any(
            k.startswith("pipelines.kubeflow.org/") for k in pod_labels
        ):
            return "kubeflow-pipeline"
        return "argo-workflow"
    # Older kubeflow/common-era controllers set only the unprefixed `group-name=kubeflow.org`.
    if (
        "training.kubeflow.org/job-name" in pod_labels
        or "training.kubeflow.org/operator-name" in pod_labels
        or pod_labels.get("group-name") == "kubeflow.org"
    ):
        return "kubeflow-training"
    if "jobset.sigs.k8s.io/jobset-name" in pod_labels:
        return "jobset"
    if "ray.io/cluster" in pod_labels:
        return "ray"
    if "spark-role" in pod_labels:
        return "spark"
    if "notebook-name" in pod_labels:
        return "notebook"
    if pod_labels.get("component") == "singleuser-server" or (
        pod_labels.get("app.kubernetes.io/component") == "singleuser-server"
    ):
        return "jupyterhub"
    if kind == "Job":
        return "job"
    if kind == "StatefulSet":
        return "statefulset"
    if kind == "ReplicaSet":
        return "deployment"
    return "other" if kind else "bare"
