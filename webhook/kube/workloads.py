"""Recognising which controller or ML framework made a pod, from what it carries at CREATE.

Signatures are the labels, annotations, controller owners and templates each project sets on
its pods (Argo `workflow/controller/workflowpod.go`, the KFP compilers, training-operator
`pod.go`, KubeRay `labelPod`, Spark `Constants.scala`, kubespawner, KServe, Seldon, Airflow's
cncf.kubernetes provider). Order matters: a KFP pod is also an Argo pod, a notebook pod is also
a StatefulSet pod, a Seldon server mounts a claim like a data store; the more specific
signature wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from webhook.kube.data_stores import is_data_store
from webhook.kube.pod import (
    MIRROR_ANNOTATION,
    Pod,
    annotations_of,
    containers,
    image_repository,
    labels_of,
    metadata,
    owner_kind_names,
)

Workload = Literal[
    "daemonset",
    "mirror",
    "kubeflow-pipeline-driver",
    "kubeflow-pipeline",
    "argo-workflow",
    "kubeflow-training",
    "jobset",
    "ray",
    "spark",
    "notebook",
    "jupyterhub",
    "model-server",
    "airflow",
    "job",
    "data-store",
    "statefulset",
    "deployment",
    "other",
    "bare",
]
WORKLOADS: tuple[Workload, ...] = get_args(Workload)

ARGO_WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
# kubeflow/pipelines backend/src/v2/compiler/argocompiler: the container and DAG driver
# templates (container.go addContainerDriverTemplate, dag.go addDAGDriverTemplate) run the
# driver image (default ghcr.io/kubeflow/kfp-driver, V2_DRIVER_IMAGE) with command `driver`;
# Argo wraps it in `argoexec emissary -- driver`, so the command is not what the pod shows.
# Argo's default pod names (POD_NAMES=v2, workflow/util/pod_name.go) are
# `<workflow>-<template>-<hash>`. From KFP 2.17 the templates are also annotated
# `pipelines.kubeflow.org/runtime-role: driver` (impl and importer pods: `launcher`;
# common.go setRuntimeRole), which Argo copies onto the pod (workflowpod.go addMetadata).
KFP_RUNTIME_ROLE = "pipelines.kubeflow.org/runtime-role"
KFP_DRIVER_TEMPLATES = ("-system-container-driver-", "-system-dag-driver-")
KFP_DRIVER_IMAGE = "kfp-driver"
# KServe pkg/constants/constants.go: every InferenceService component's pod (RawDeployment /
# Standard and Knative) has `serving.kserve.io/inferenceservice` and `component`
# (components/predictor.go buildObjectMeta); LLMInferenceService workload pods are
# `app.kubernetes.io/part-of: llminferenceservice` with a `llminferenceservice-workload*`
# component (pkg/controller/v1alpha2/llmisvc/workload.go).
KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")
# Every label key `_framework` reads.
FRAMEWORK_KEYS = frozenset(
    {
        "training.kubeflow.org/job-name", "training.kubeflow.org/operator-name", "group-name",
        "jobset.sigs.k8s.io/jobset-name", "ray.io/cluster", "spark-role", "notebook-name",
        "component", "app.kubernetes.io/component", "serving.kserve.io/inferenceservice",
        "app.kubernetes.io/part-of", "seldon-deployment-id", "seldon-server-name",
        "app.kubernetes.io/name", "kubernetes_pod_operator", "kubernetes_executor",
    }
)  # fmt: skip


def workload_of(pod: Pod) -> Workload:
    """One name from WORKLOADS: `other` for a pod whose controller is of a kind not listed
    (an Argo Rollout, a custom operator), `bare` for a pod with no controller at all."""
    return workload_from(labels_of(pod), annotations_of(pod), owner_kind_names(pod), pod)


def workload_from(
    pod_labels: Mapping[str, Any],
    annotations: Mapping[str, Any],
    owner: tuple[str, str],
    pod: Pod,
) -> Workload:
    """`workload_of` from what a caller has already read of the pod; `pod` is read only for
    the few signatures that are not labels (KFP driver templates, data-store volumes)."""
    kind, group_kind = owner
    if kind == "DaemonSet":
        return "daemonset"
    if MIRROR_ANNOTATION in annotations:
        return "mirror"
    if ARGO_WORKFLOW_LABEL in pod_labels or group_kind == "argoproj.io/Workflow":
        return _workflow_step(pod_labels, annotations, pod)
    # Most pods carry none of the framework keys: one set test in C skips their checks.
    if pod_labels and not pod_labels.keys().isdisjoint(FRAMEWORK_KEYS):
        framework = _framework(pod_labels)
        if framework is not None:
            return framework
    if kind == "Job":
        return "job"
    if is_data_store(pod_labels, pod):
        return "data-store"
    if kind == "StatefulSet":
        return "statefulset"
    if kind == "ReplicaSet":
        return "deployment"
    return "other" if kind else "bare"


def _workflow_step(
    pod_labels: Mapping[str, Any], annotations: Mapping[str, Any], pod: Pod
) -> Workload:
    if "pipeline/runid" not in pod_labels and not any(
        type(k) is str and k.startswith("pipelines.kubeflow.org/") for k in pod_labels
    ):
        return "argo-workflow"
    return "kubeflow-pipeline-driver" if _kfp_driver(annotations, pod) else "kubeflow-pipeline"


def _kfp_driver(annotations: Mapping[str, Any], pod: Pod) -> bool:
    role = annotations.get(KFP_RUNTIME_ROLE)
    if role is not None:
        return bool(role == "driver")
    name = metadata(pod).get("name")
    if type(name) is str and any(t in name for t in KFP_DRIVER_TEMPLATES):
        return True
    return any(
        c.get("name") == "main" and image_repository(c.get("image")) == KFP_DRIVER_IMAGE
        for c in containers(pod)
    )


def _framework(pod_labels: Mapping[str, Any]) -> Workload | None:
    """The ML frameworks and platforms recognised by their pod labels alone (FRAMEWORK_KEYS)."""
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
    if _model_server(pod_labels):
        return "model-server"
    # apache/airflow providers/cncf/kubernetes: KubernetesPodOperator task pods
    # (operators/pod.py _get_ti_pod_labels) and KubernetesExecutor worker pods
    # (pod_generator.py build_labels_for_k8s_executor_pod).
    if "kubernetes_pod_operator" in pod_labels or "kubernetes_executor" in pod_labels:
        return "airflow"
    return None


def _model_server(pod_labels: Mapping[str, Any]) -> bool:
    if "serving.kserve.io/inferenceservice" in pod_labels:
        return pod_labels.get("component") in KSERVE_COMPONENTS
    if pod_labels.get("app.kubernetes.io/part-of") == "llminferenceservice":
        component = pod_labels.get("app.kubernetes.io/component")
        return type(component) is str and component.startswith("llminferenceservice-workload")
    # SeldonIO/seldon-core v1 (operator/apis/.../seldondeployment_types.go Label_seldon_id, on
    # every predictor pod) and Core 2 servers (operator/pkg/constants/constants.go: MLServer
    # and Triton StatefulSets, reconcilers/server/statefulset_reconciler.go).
    return (
        "seldon-deployment-id" in pod_labels
        or "seldon-server-name" in pod_labels
        or pod_labels.get("app.kubernetes.io/name") == "seldon-server"
    )
