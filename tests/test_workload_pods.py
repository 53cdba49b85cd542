"""Pods as the ML stack's controllers create them, one file each in tests/cases/workloads/ (each
file cites the upstream sources it follows): each is a valid Pod, is recognised as its workload,
and has the facts policies match on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube import validate_pod
from webhook.kube.workloads import WORKLOADS, workload_of
from webhook.match.facts import PodFacts

PODS = Path(__file__).parent / "cases" / "workloads"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PODS / f"{name}.in.yaml").read_text())
    return data


# file: (workload, queued by Kueue, own placement, requests a GPU)
EXPECTED: dict[str, tuple[str, bool, bool, bool]] = {
    "argo-step": ("argo-workflow", False, False, False),
    "kfp-v1-step": ("kubeflow-pipeline", False, False, False),
    "kfp-v2-impl-step": ("kubeflow-pipeline", False, False, True),
    "kfp-v2-container-driver": ("kubeflow-pipeline-driver", False, False, False),
    "kfp-v2-dag-driver": ("kubeflow-pipeline-driver", False, False, False),
    "kubeflow-notebook-cpu": ("notebook", False, False, False),
    "kubeflow-notebook-gpu": ("notebook", False, False, True),
    # z2jh tolerates its user-node taint and prefers user nodes: a placement of its own.
    "jupyterhub-user-server": ("jupyterhub", False, True, False),
    "kuberay-head": ("ray", False, False, False),
    "kuberay-gpu-worker": ("ray", False, False, True),
    "spark-driver": ("spark", False, False, False),
    "spark-gpu-executor": ("spark", False, False, True),
    "pytorchjob-master": ("kubeflow-training", False, False, True),
    "pytorchjob-worker": ("kubeflow-training", False, False, True),
    "jobset-pod": ("jobset", False, False, True),
    "kueue-plain-pod": ("bare", True, False, False),
    # Kueue wrote its flavor's nodeSelector and tolerations into the Job before unsuspending it.
    "kueue-admitted-job-pod": ("job", True, True, True),
    "job-pod": ("job", False, False, False),
    "cronjob-pod": ("job", False, False, False),
    "job-safe-to-evict-false": ("job", False, False, False),
    "airflow-kpo-task": ("airflow", False, False, False),
    "airflow-executor-worker": ("airflow", False, False, False),
    "kserve-predictor-cpu": ("model-server", False, False, False),
    "kserve-predictor-gpu": ("model-server", False, False, True),
    "kserve-transformer": ("model-server", False, False, False),
    "seldon-v1-predictor": ("model-server", False, False, False),
    # A StatefulSet pod with a claim, but its Seldon signature is the more specific one.
    "seldon-v2-mlserver": ("model-server", False, False, False),
    "kfp-minio": ("data-store", False, False, False),
    "kfp-mysql": ("data-store", False, False, False),
    "postgresql-statefulset": ("data-store", False, False, False),
    # The DaemonSet controller's matchFields term pins the pod to its node.
    "daemonset-pod": ("daemonset", False, True, False),
    "static-mirror-pod": ("mirror", False, True, False),
    # Its only nodeSelector is kubernetes.io/os: linux, which names no pool.
    "helm-deployment-os-linux": ("deployment", False, False, False),
}
NAMES = sorted(EXPECTED)


def test_every_pod_file_has_its_expectations() -> None:
    assert sorted(p.name.removesuffix(".in.yaml") for p in PODS.glob("*.in.yaml")) == NAMES


def test_every_new_workload_class_has_a_pod() -> None:
    covered = {workload for workload, *_ in EXPECTED.values()}
    new = {"model-server", "data-store", "airflow", "kubeflow-pipeline-driver"}
    assert new <= covered
    assert covered <= set(WORKLOADS)


@pytest.mark.parametrize("name", NAMES)
def test_the_pod_file_cites_its_upstream_sources(name: str) -> None:
    first = (PODS / f"{name}.in.yaml").read_text().splitlines()[0]
    assert first.startswith("# Source: ")


@pytest.mark.parametrize("name", NAMES)
def test_the_pod_is_valid(name: str) -> None:
    validate_pod(load(name))


@pytest.mark.parametrize("name", NAMES, ids=[f"{n} is {EXPECTED[n][0]}" for n in NAMES])
def test_the_pod_is_recognised_as_its_workload(name: str) -> None:
    assert workload_of(load(name)) == EXPECTED[name][0]


@pytest.mark.parametrize("name", NAMES)
def test_the_pod_has_the_expected_facts(name: str) -> None:
    pod = load(name)
    facts = PodFacts(pod, pod["metadata"].get("namespace", "default"))
    _, queued, own, gpu = EXPECTED[name]
    assert (facts.queued, facts.own_placement, "nvidia.com/gpu" in facts.extended) == (
        queued,
        own,
        gpu,
    )
