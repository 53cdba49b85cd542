"""The workload signatures at their edges: KFP driver pods, model servers, Airflow task pods and
data stores, and what must not be mistaken for them. Whole pods as controllers write them are in
test_workload_pods.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import (
    ARGO_LABELS,
    JOB,
    KFP_LABELS,
    REPLICASET,
    STATEFULSET,
    WORKFLOW,
    container,
    owner,
    pod,
)
from webhook.kube.workloads import workload_of

ROLE = "pipelines.kubeflow.org/runtime-role"
DRIVER_IMAGE = "ghcr.io/kubeflow/kfp-driver:2.5.0"
KSERVE = "serving.kserve.io/inferenceservice"
LLMISVC = {"app.kubernetes.io/part-of": "llminferenceservice"}
CLAIM = {"name": "data", "persistentVolumeClaim": {"claimName": "data-0"}}


def kfp(*containers: dict[str, Any], name: str = "p", **metadata: Any) -> dict[str, Any]:
    return pod(*containers, name=name, labels=KFP_LABELS, owners=[WORKFLOW], **metadata)


def image(ref: str, name: str = "main") -> dict[str, Any]:
    return {"name": name, "image": ref}


def server(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A Deployment's pod (restartPolicy Always, the default)."""
    extra.setdefault("owners", [REPLICASET])
    return pod(*containers, **extra)


KFP_DRIVERS = {
    "a KFP 2.17 driver is known by its runtime-role annotation": (
        kfp(annotations={ROLE: "driver"}),
        "kubeflow-pipeline-driver",
    ),
    "a KFP 2.17 impl pod is annotated launcher: not a driver": (
        kfp(
            image(DRIVER_IMAGE), name="wf-system-container-driver-1", annotations={ROLE: "launcher"}
        ),
        "kubeflow-pipeline",
    ),
    "an older container driver is known by its template in the pod name": (
        kfp(name="wf-x7k2p-system-container-driver-1794123658"),
        "kubeflow-pipeline-driver",
    ),
    "an older DAG driver is known by its template in the pod name": (
        kfp(name="wf-x7k2p-system-dag-driver-3820462117"),
        "kubeflow-pipeline-driver",
    ),
    "with Argo's v1 pod names a driver is known by its main container's image": (
        kfp(image("wait-image", "wait"), image(DRIVER_IMAGE), name="wf-x7k2p-1794123658"),
        "kubeflow-pipeline-driver",
    ),
    "the driver image of KFP 2.0 on gcr.io counts too": (
        kfp(image("gcr.io/ml-pipeline/kfp-driver:2.0.5")),
        "kubeflow-pipeline-driver",
    ),
    "a kfp-driver image in a container other than main does not count": (
        kfp(image(DRIVER_IMAGE, "sidecar"), image("python:3.12")),
        "kubeflow-pipeline",
    ),
    "an image whose name only starts with kfp-driver does not count": (
        kfp(image("ghcr.io/acme/kfp-driver-tools:1")),
        "kubeflow-pipeline",
    ),
    "the impl pod of a component is a pipeline step": (
        kfp(image("python:3.12"), name="wf-x7k2p-system-container-impl-2071384713"),
        "kubeflow-pipeline",
    ),
    "a driver-like pod of a plain Argo workflow is an Argo step": (
        pod(image(DRIVER_IMAGE), labels=ARGO_LABELS, owners=[WORKFLOW]),
        "argo-workflow",
    ),
    "a pod named like a driver outside any workflow is no driver": (
        pod(name="x-system-container-driver-1"),
        "bare",
    ),
}

MODEL_SERVERS = {
    "a KServe predictor": (
        server(labels={KSERVE: "iris", "component": "predictor"}),
        "model-server",
    ),
    "a KServe explainer": (
        server(labels={KSERVE: "iris", "component": "explainer"}),
        "model-server",
    ),
    "a pod with the InferenceService label but no component is a Deployment pod": (
        server(labels={KSERVE: "iris"}),
        "deployment",
    ),
    "a KServe predictor with a claim for its model is a model server, not a data store": (
        server(labels={KSERVE: "iris", "component": "predictor"}, volumes=[CLAIM]),
        "model-server",
    ),
    "an LLMInferenceService workload pod": (
        server(labels={**LLMISVC, "app.kubernetes.io/component": "llminferenceservice-workload"}),
        "model-server",
    ),
    "an LLMInferenceService prefill worker": (
        server(
            labels={
                **LLMISVC,
                "app.kubernetes.io/component": "llminferenceservice-workload-worker-prefill",
            }
        ),
        "model-server",
    ),
    "the LLMInferenceService scheduler is no model server": (
        server(
            labels={
                **LLMISVC,
                "app.kubernetes.io/component": "llminferenceservice-router-scheduler",
            }
        ),
        "deployment",
    ),
    "a Seldon Core v1 predictor": (
        server(labels={"seldon-deployment-id": "income", "seldon.io/model": "true"}),
        "model-server",
    ),
    "a Seldon Core 2 server with its model claim": (
        pod(
            labels={"app.kubernetes.io/name": "seldon-server", "seldon-server-name": "mlserver"},
            owners=[STATEFULSET],
            volumes=[CLAIM],
        ),
        "model-server",
    ),
    "the Seldon Core 2 scheduler keeps its state on a claim: a data store": (
        pod(
            labels={"app.kubernetes.io/name": "seldon-scheduler"},
            owners=[STATEFULSET],
            volumes=[CLAIM],
        ),
        "data-store",
    ),
}

AIRFLOW = {
    "a KubernetesPodOperator task pod": (
        pod(labels={"dag_id": "d", "task_id": "t", "kubernetes_pod_operator": "True"}),
        "airflow",
    ),
    "a KubernetesExecutor worker pod": (
        pod(labels={"dag_id": "d", "task_id": "t", "kubernetes_executor": "True"}),
        "airflow",
    ),
    "dag_id and task_id alone are not Airflow's signature": (
        pod(labels={"dag_id": "d", "task_id": "t"}),
        "bare",
    ),
    "a Spark driver that Airflow's SparkKubernetesOperator launched is a Spark pod": (
        pod(labels={"spark-role": "driver", "spark_kubernetes_operator": "True"}),
        "spark",
    ),
}

DATA_STORES = {
    "a Deployment pod that mounts a claim": (server(volumes=[CLAIM]), "data-store"),
    "a server pod without a controller that mounts a claim": (
        pod(volumes=[CLAIM]),
        "data-store",
    ),
    "a custom operator's server pod with a claim (CloudNativePG)": (
        pod(owners=[owner("Cluster", "postgresql.cnpg.io/v1", "pg")], volumes=[CLAIM]),
        "data-store",
    ),
    "a StatefulSet running a data-store image is a data store, not a statefulset": (
        pod(image("docker.io/bitnami/postgresql:17.2.0"), owners=[STATEFULSET]),
        "data-store",
    ),
    "a Redis image pinned by digest": (
        server(image("redis@sha256:" + "a" * 64)),
        "data-store",
    ),
    "a MinIO image from a registry with a port": (
        server(image("localhost:5000/minio/minio:RELEASE.2024-10-02T17-50-41Z")),
        "data-store",
    ),
    "a data-store container after the app container": (
        server(image("ghcr.io/acme/app:1", "app"), image("valkey/valkey:8", "cache")),
        "data-store",
    ),
    "the recommended name label of a store (Bitnami charts)": (
        server(labels={"app.kubernetes.io/name": "mongodb"}),
        "data-store",
    ),
    "the app label of a store (Kubeflow's MySQL)": (server(labels={"app": "mysql"}), "data-store"),
}

NOT_DATA_STORES = {
    "a Job pod with a claim is a job": (pod(owners=[JOB], volumes=[CLAIM]), "job"),
    "a bare pod that runs to completion with a claim": (
        pod(volumes=[CLAIM], restartPolicy="Never"),
        "bare",
    ),
    "a custom controller's run-to-completion pod with a claim (a Tekton TaskRun)": (
        pod(
            owners=[owner("TaskRun", "tekton.dev/v1", "build")],
            volumes=[CLAIM],
            restartPolicy="Never",
        ),
        "other",
    ),
    "a notebook mounts its workspace but is a notebook": (
        pod(labels={"notebook-name": "nb"}, owners=[STATEFULSET], volumes=[CLAIM]),
        "notebook",
    ),
    "a run-to-completion pod (OnFailure) with a claim is no data-store server": (
        server(image("example.com/etl:1"), volumes=[CLAIM], restartPolicy="OnFailure"),
        "deployment",
    ),
    "a JupyterHub server with its home claim is a JupyterHub server": (
        pod(labels={"component": "singleuser-server"}, volumes=[CLAIM], restartPolicy="OnFailure"),
        "jupyterhub",
    ),
    "a database exporter": (
        server(image("quay.io/prometheuscommunity/postgres-exporter:v0.16.0")),
        "deployment",
    ),
    "a Redis exporter": (server(image("oliver006/redis_exporter:v1.66.0")), "deployment"),
    "an init container that waits for Postgres": (
        server(init=[image("postgres:17", "wait-for-db")]),
        "deployment",
    ),
    "a registry host named like a store": (
        server(image("redis.example.com/acme/app:1")),
        "deployment",
    ),
    "a tag named like a store": (server(image("ghcr.io/acme/app:postgres")), "deployment"),
    "a generic ephemeral volume is not a claim of the pod's own": (
        server(
            volumes=[
                {
                    "name": "scratch",
                    "ephemeral": {
                        "volumeClaimTemplate": {
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": "1Gi"}},
                            }
                        }
                    },
                }
            ]
        ),
        "deployment",
    ),
    "an app label that only starts with a store's name": (
        server(labels={"app": "redis-commander"}),
        "deployment",
    ),
    "a StatefulSet without a claim or a store image stays a statefulset": (
        pod(container("web"), owners=[STATEFULSET]),
        "statefulset",
    ),
    "a label value that is not a string names no store": (
        server(labels={"app": ["mysql"]}),  # type: ignore[dict-item]
        "deployment",
    ),
}

TABLES = {**KFP_DRIVERS, **MODEL_SERVERS, **AIRFLOW, **DATA_STORES, **NOT_DATA_STORES}


@pytest.mark.parametrize(
    ("subject", "workload"),
    list(TABLES.values()),
    ids=[f"{k}: {v[1]}" for k, v in TABLES.items()],
)
def test_workload_signature_edges(subject: dict[str, Any], workload: str) -> None:
    assert workload_of(subject) == workload
