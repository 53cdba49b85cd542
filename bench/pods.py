"""The pods the benchmark sends, as kube-apiserver would: defaulted, inside an AdmissionReview.

Three sizes: a one-container pod, an Argo Workflows GPU step (init, wait and main containers,
the labels and annotations Argo sets) and a large pod (20 containers with many env vars,
mounts and volumes), so the cost per review can be read against the size of the body.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import orjson

Pod = dict[str, Any]

NAMESPACE = "ml-train"


def _defaults(container: dict[str, Any]) -> dict[str, Any]:
    """Fields the apiserver's defaulting adds to every container before admission."""
    return {
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        **container,
    }


def _pod_spec(containers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "containers": [_defaults(c) for c in containers],
        "restartPolicy": "Never",
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "securityContext": {},
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
        **extra,
    }


def small_pod() -> Pod:
    """One container, no controller: the default-pool policy places it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-debug", "namespace": NAMESPACE, "labels": {"app": "web"}},
        "spec": _pod_spec(
            [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ]
        ),
    }


def _env(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"name": f"{prefix}_{i}", "value": f"value-{i}-" + "x" * 24} for i in range(count)]


def argo_gpu_pod(workflow: str = "train-7d9f2") -> Pod:
    """An Argo step requesting a GPU (workflowpod.go): extended-resource toleration, GPU spot
    pool, ndots and workflow podAffinity all apply."""
    mounts = [
        {"name": "var-run-argo", "mountPath": "/var/run/argo"},
        {"name": "data", "mountPath": "/data"},
        {
            "name": "kube-api-access",
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            "readOnly": True,
        },
    ]
    executor = "quay.io/argoproj/argoexec:v3.5.15"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{workflow}-train-1234567890",
            "namespace": NAMESPACE,
            "labels": {
                "workflows.argoproj.io/workflow": workflow,
                "workflows.argoproj.io/completed": "false",
            },
            "annotations": {
                "workflows.argoproj.io/node-name": f"{workflow}.train",
                "workflows.argoproj.io/node-id": f"{workflow}-1234567890",
                "kubectl.kubernetes.io/default-container": "main",
            },
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Workflow",
                    "name": workflow,
                    "uid": "5a8b1f8e-3c1d-4c1b-9d2e-0f1e2d3c4b5a",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": _pod_spec(
            [
                {
                    "name": "wait",
                    "image": executor,
                    "command": ["argoexec", "wait"],
                    "env": _env("ARGO", 8),
                    "volumeMounts": mounts[:1] + mounts[2:],
                    "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                },
                {
                    "name": "main",
                    "image": "registry.example.com/ml/trainer:2.3.1",
                    "command": ["/var/run/argo/argoexec", "emissary", "--", "python", "train.py"],
                    "args": ["--epochs", "10", "--batch-size", "64"],
                    "env": _env("TRAIN", 12),
                    "volumeMounts": mounts,
                    "resources": {
                        "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                        "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
                    },
                },
            ],
            initContainers=[
                _defaults(
                    {
                        "name": "init",
                        "image": executor,
                        "command": ["argoexec", "init"],
                        "env": _env("ARGO", 8),
                        "volumeMounts": mounts[:1] + mounts[2:],
                        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                    }
                )
            ],
            serviceAccountName="argo-workflow",
            volumes=[
                {"name": "var-run-argo", "emptyDir": {}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "train-data"}},
                {
                    "name": "kube-api-access",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                        ]
                    },
                },
            ],
        ),
    }


def large_pod() -> Pod:
    """20 containers, 40 env vars and 5 mounts each, 40 volumes: a Job-owned data pipeline pod."""
    containers = []
    for i in range(20):
        containers.append(
            {
                "name": f"stage-{i}",
                "image": f"registry.example.com/pipeline/stage-{i}:1.0.{i}",
                "command": ["python", "-m", f"pipeline.stage{i}"],
                "env": _env(f"STAGE{i}", 40),
                "volumeMounts": [
                    {"name": f"vol-{(i + k) % 40}", "mountPath": f"/mnt/v{k}"} for k in range(5)
                ],
                "resources": {
                    "requests": {"cpu": "250m", "memory": "512Mi"},
                    "limits": {"cpu": "1", "memory": "1Gi"},
                },
                "ports": [{"containerPort": 8000 + i, "protocol": "TCP"}],
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "etl-nightly-",
            "namespace": NAMESPACE,
            "labels": {
                "batch.kubernetes.io/job-name": "etl-nightly",
                "batch.kubernetes.io/controller-uid": "9c1e6a36-1e44-4b1b-a1f4-0d2f",
                "team": "data",
            },
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "etl-nightly",
                    "uid": "9c1e6a36-1e44-4b1b-a1f4-0d2f",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": _pod_spec(
            containers,
            volumes=[
                {"name": f"vol-{i}", "configMap": {"name": f"etl-config-{i}"}} for i in range(40)
            ],
        ),
    }


PODS = {"small": small_pod, "argo-gpu": argo_gpu_pod, "large": large_pod}


def review(
    pod: Pod, uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002", namespace: str = NAMESPACE
) -> dict[str, Any]:
    """An admission.k8s.io/v1 review of a pod CREATE, with every field the apiserver sends."""
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": pod["metadata"].get("name", ""),
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:argo:argo-workflow-controller",
                "uid": "b1f0c3a2-8d4e-4f5a-9b6c-7d8e9f0a1b2c",
                "groups": [
                    "system:serviceaccounts",
                    "system:serviceaccounts:argo",
                    "system:authenticated",
                ],
            },
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def review_body(size: str) -> bytes:
    return orjson.dumps(review(PODS[size]()))


def distinct_bodies(count: int) -> list[bytes]:
    """`count` different reviews, as a workflow fanning out: each pod its own uid and name,
    one workflow per 50 pods, every tenth pod a CPU step instead of a GPU one."""
    bodies = []
    for i in range(count):
        pod = argo_gpu_pod(workflow=f"fanout-{i // 50:03d}")
        pod["metadata"]["name"] = f"fanout-{i // 50:03d}-step-{i}"
        if i % 10 == 0:
            main = pod["spec"]["containers"][1]
            main["resources"] = copy.deepcopy(pod["spec"]["containers"][0]["resources"])
        bodies.append(orjson.dumps(review(pod, uid=str(uuid.UUID(int=i + 1)))))
    return bodies
