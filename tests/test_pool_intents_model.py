"""The placement intents of every shipped policy set, judged by the model cluster.

Every pod of the real ML stack (`tests/cases/workloads/<name>.in.yaml`, each written as its
controller writes it) goes through `webhook.engine.mutate` with the shipped set and each example
of policies/examples/; the patch is applied with the real kubectl, and the pod as the webhook
sends it is judged by tests/cluster_model: one node per declared pool and kube-scheduler's
filters, written from the scheduler's source and not from the engine. The intents:

- a pod that could run as its author wrote it can still run after the webhook (pods pinned to a
  node are tried with that node in each pool in turn);
- a pod asking for an extended resource (a GPU) that a declared pool offers can run after the
  webhook, though the pool's taints kept it out before (the ExtendedResourceToleration rule);
- notebooks, model servers, data stores and pods not to be evicted are not spot-only, and cannot
  land on spot at all, where an on-demand node could take them (the pod as written, taints
  aside: "an on-demand pool of its kind").

A case the engine breaks goes into BROKEN with the reason, marked `xfail(strict=True)`, so the
list is visible here and each turns into a failure once fixed.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster_model import Cluster
from tests.cluster_model.resources import is_extended, pod_requests
from tests.kube import kubectl_patch
from webhook.engine import CompiledPolicySet, compile_policy_set, mutate
from webhook.policy import load_policy_set

Doc = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "cases" / "workloads"
NAMES = sorted(p.name.removesuffix(".in.yaml") for p in CASES.glob("*.in.yaml"))
SETS = {"shipped": REPO / "policies"} | {
    p.name: p for p in sorted((REPO / "policies" / "examples").iterdir())
}

NOTEBOOK, SERVER, STORE, NO_EVICT = "notebook", "model server", "data store", "not to be evicted"
KEPT_OFF_SPOT = {NOTEBOOK, SERVER, STORE, NO_EVICT}
# What each pod is, from the controller that writes it (each file cites its source).
CLASS_OF = {
    "airflow-executor-worker": "batch",
    "airflow-kpo-task": "batch",
    "argo-step": "batch",
    "cronjob-pod": "batch",
    "daemonset-pod": "node agent",
    "helm-deployment-os-linux": "service",
    "job-pod": "batch",
    "job-safe-to-evict-false": NO_EVICT,
    "jobset-pod": "batch",
    "jupyterhub-user-server": NOTEBOOK,
    "kfp-minio": STORE,
    "kfp-mysql": STORE,
    "kfp-v1-step": "batch",
    "kfp-v2-container-driver": "batch",
    "kfp-v2-dag-driver": "batch",
    "kfp-v2-impl-step": "batch",
    "kserve-predictor-cpu": SERVER,
    "kserve-predictor-gpu": SERVER,
    "kserve-transformer": SERVER,
    "kubeflow-notebook-cpu": NOTEBOOK,
    "kubeflow-notebook-gpu": NOTEBOOK,
    "kuberay-gpu-worker": "batch",
    "kuberay-head": "service",
    "kueue-admitted-job-pod": "batch",
    "kueue-plain-pod": "batch",
    "postgresql-statefulset": STORE,
    "pytorchjob-master": "batch",
    "pytorchjob-worker": "batch",
    "seldon-v1-predictor": SERVER,
    "seldon-v2-mlserver": SERVER,
    "spark-driver": "batch",
    "spark-gpu-executor": "batch",
    "static-mirror-pod": "node agent",
}

# (set, pod, intent) the engine breaks, and why: none. Zero to JupyterHub's user pods, whose
# chart tolerations and preference select no declared pool, were taken for pods with a
# placement of their own, and the untainted spot pools admitted them.
BROKEN: dict[tuple[str, str, str], str] = {}


def test_every_pod_is_classified() -> None:
    assert sorted(CLASS_OF) == NAMES


def written(name: str) -> Doc:
    """The pod as its controller wrote it."""
    pod: Doc = yaml.safe_load((CASES / f"{name}.in.yaml").read_text(encoding="utf-8"))
    return pod


@cache
def sent(set_name: str, name: str) -> tuple[Doc, Doc]:
    """The pod as its controller wrote it, and as the webhook sends it (kubectl-patched)."""
    pod = written(name)
    namespace = pod["metadata"].get("namespace", "default")
    result = mutate(compiled(set_name), copy.deepcopy(pod), namespace)
    assert not result.errors, result.errors
    return pod, kubectl_patch(pod, result.ops) if result.ops else copy.deepcopy(pod)


@cache
def compiled(set_name: str) -> CompiledPolicySet:
    return compile_policy_set(load_policy_set(SETS[set_name]))


def clusters(set_name: str, pod: Doc) -> list[Cluster]:
    """The set's cluster; for a pod pinned to named nodes, one cluster per pool with those
    nodes in it."""
    names = pinned_names(pod)
    if not names:
        return [Cluster.from_policy_set(SETS[set_name])]
    out = []
    for pool in Cluster.from_policy_set(SETS[set_name]).pool_docs:
        cluster = Cluster.from_policy_set(SETS[set_name])
        for name in names:
            cluster.add_node(name, pool=pool)
        out.append(cluster)
    return out


def pinned_names(pod: Doc) -> list[str]:
    """Node names the pod asks for: nodeName, a `metadata.name` matchFields pin, or a required
    `kubernetes.io/hostname` In term (how DaemonSet and static pods, and users, pin a pod)."""
    spec = pod.get("spec") or {}
    names = [spec["nodeName"]] if spec.get("nodeName") else []
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                names += field.get("values") or []
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") == "kubernetes.io/hostname" and expression["operator"] == "In":
                names += expression.get("values") or []
    return list(dict.fromkeys(names))


def case(set_name: str, name: str, intent: str) -> Any:
    reason = BROKEN.get((set_name, name, intent))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(set_name, name, marks=marks, id=f"{set_name}-{name}")


# --- a pod that could run still can ---------------------------------------------------------


@pytest.mark.parametrize(
    ("set_name", "name"), [case(s, n, "runnable") for s in SETS for n in NAMES]
)
def test_a_pod_that_could_run_still_can(set_name: str, name: str) -> None:
    before, after = sent(set_name, name)
    for cluster in clusters(set_name, before):
        if cluster.feasible(before):
            refusals = {n.name: cluster.why(after, n.name) for n in cluster.nodes}
            assert cluster.feasible(after), f"{name} runs nowhere in {set_name}: {refusals}"


EXTENDED = [n for n in NAMES if any(is_extended(r) for r in pod_requests(written(n)))]


@pytest.mark.parametrize(
    ("set_name", "name"), [case(s, n, "extended") for s in SETS for n in EXTENDED]
)
def test_a_pod_asking_for_an_extended_resource_runs_where_a_pool_offers_it(
    set_name: str, name: str
) -> None:
    before, after = sent(set_name, name)
    cluster = Cluster.from_policy_set(SETS[set_name])
    offering = cluster.pools_for(before, skip={"TaintToleration"})
    if not offering:
        pytest.skip(f"no pool of {set_name} offers what {name} asks for, as it asks")
    refusals = {n.name: cluster.why(after, n.name) for n in cluster.nodes}
    assert set(cluster.pools_for(after)) & set(offering), f"{name} runs nowhere: {refusals}"


# --- the classes kept off spot --------------------------------------------------------------

KEPT = [n for n in NAMES if CLASS_OF[n] in KEPT_OFF_SPOT]


def on_demand_could_take(cluster: Cluster, pod: Doc) -> list[str]:
    """On-demand nodes that admit the pod as its author wrote it, taints aside."""
    fits = cluster.feasible(pod, skip={"TaintToleration"})
    return [n.name for n in cluster.nodes if n.name in fits and not n.spot]


@pytest.mark.parametrize(
    ("set_name", "name"), [case(s, n, "not spot-only") for s in SETS for n in KEPT]
)
def test_kept_classes_are_not_spot_only(set_name: str, name: str) -> None:
    before, after = sent(set_name, name)
    cluster = Cluster.from_policy_set(SETS[set_name])
    if not on_demand_could_take(cluster, before):
        pytest.skip(f"no on-demand pool of {set_name} could take this {CLASS_OF[name]}")
    on_demand = [n for n in cluster.nodes if not n.spot]
    refusals = {n.name: cluster.why(after, n.name) for n in on_demand}
    assert not cluster.spot_only(after), f"{name} is spot-only in {set_name}: {refusals}"
    assert any(r is None for r in refusals.values()), f"{name} runs nowhere: {refusals}"


@pytest.mark.parametrize(("set_name", "name"), [case(s, n, "off spot") for s in SETS for n in KEPT])
def test_kept_classes_cannot_land_on_spot(set_name: str, name: str) -> None:
    before, after = sent(set_name, name)
    cluster = Cluster.from_policy_set(SETS[set_name])
    if not on_demand_could_take(cluster, before):
        pytest.skip(f"no on-demand pool of {set_name} could take this {CLASS_OF[name]}")
    spot = [n.name for n in cluster.nodes if n.spot and cluster.why(after, n.name) is None]
    assert spot == [], f"the {CLASS_OF[name]} {name} can land on spot nodes {spot} in {set_name}"
