"""The set's intents hold for every pod, not only for the proof's samples.

Each case is a way a platform engineer's set used to send a pod where it must not go: a policy
beside the shipped set, and a pod exactly as its controller writes it
(`tests/cases/workloads/`, each citing its source), changed only as the case says. For each:

- at the engine: the patch, applied with the real kubectl, leaves the pod able to reach only
  the pools the case expects, judged by the model cluster (`tests/cluster_model`: one node per
  declared pool and kube-scheduler's filters, written from the scheduler's source, not from
  the webhook); the policy that broke the intent is named with the intent; the apiserver's
  second call adds nothing;
- through `check`: the set is refused, with the policy, the pod class and the intent on one
  line;
- through the real server (loaded with `--proof-classes 0`, as a set too large for the proof at
  load would be): the same patch, a warning naming policy and intent, and the counters.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster_model import Cluster
from tests.kube import kubectl_patch, validate_pod
from tests.pods import SHIPPED_POLICIES
from tests.scraping import client, patch_of, pod_review, response_of, scrape, send, value
from tests.servers import running_server
from webhook.engine import compile_policy_set, mutate
from webhook.policy import load_policy_set
from webhook.tools.cli import main

WORKLOADS = Path(__file__).parent / "cases" / "workloads"
HEADER = "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"


def placement(name: str, order: int, match: str, pool: str = "job") -> str:
    spec = f"spec:\n  order: {order}\n  match:\n{match}\n  add:\n    pool: {pool}\n"
    return f"{HEADER}metadata: {{name: {name}}}\n{spec}"


@dataclass
class Case:
    pod: str  # a file of tests/cases/workloads, without .in.yaml
    policies: str  # YAML documents written beside the shipped set
    namespace: str
    refused: dict[str, str]  # policy -> the intent it broke
    reach: set[str]  # the pools the sent pod can reach
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] | None = None
    check: str = ""  # what the check's line says of the pod class


CASES = {
    "a notebook labelled as a policy's podSelector asks is not sent to spot": Case(
        "kubeflow-notebook-cpu",
        placement("team-batch", 5, "    podSelector: {matchLabels: {team: batch}}"),
        "ml",
        {"team-batch": "off-spot"},
        {"ondemand"},
        labels={"team": "batch"},
        check="matched by policy team-batch, labelled team=batch",
    ),
    "a notebook in a namespace a policy names": Case(
        "kubeflow-notebook-cpu",
        placement("scratch-spot", 5, "    namespaces: [scratch]", "default"),
        "scratch",
        {"scratch-spot": "off-spot"},
        {"ondemand"},
        check="matched by policy scratch-spot in namespace scratch",
    ),
    "a notebook in the ninth namespace policies name": Case(
        "kubeflow-notebook-cpu",
        "---\n".join(
            placement(f"ns-{i}", 5, f"    namespaces: [team-{i}]", "job") for i in range(1, 10)
        ),
        "team-9",
        {"ns-9": "off-spot"},
        {"ondemand"},
        check="matched by policy ns-9 in namespace team-9",
    ),
    "a notebook in a namespace a policy selects by label": Case(
        "kubeflow-notebook-cpu",
        placement("batch-namespaces", 5, "    namespaceSelector: {matchLabels: {tier: batch}}"),
        "research",
        {"batch-namespaces": "off-spot"},
        {"ondemand"},
        namespace_labels={"tier": "batch"},
        check="with namespace labels tier=batch",
    ),
    "a notebook requesting a resource a policy matches on": Case(
        "kubeflow-notebook-cpu",
        placement("scratch-disk", 5, "    requests: [ephemeral-storage]"),
        "ml",
        {"scratch-disk": "off-spot"},
        {"ondemand"},
        requests={"ephemeral-storage": "10Gi"},
        check="requesting ephemeral-storage",
    ),
    "a model server with a service-mesh annotation a policy matches": Case(
        "kserve-predictor-cpu",
        placement(
            "meshed-spot",
            5,
            "    annotationSelector: {matchLabels: {sidecar.istio.io/inject: 'true'}}",
        ),
        "models",
        {"meshed-spot": "off-spot"},
        {"ondemand"},
        annotations={"sidecar.istio.io/inject": "true"},
        check="matched by policy meshed-spot, annotated sidecar.istio.io/inject=true",
    ),
    "a GPU pod sent to a pool without GPUs": Case(
        "argo-step",
        placement("argo-cpu", 5, "    workloads: [argo-workflow]"),
        "ml",
        {"argo-cpu": "runnable"},
        {"g1"},
        requests={"nvidia.com/gpu": "1"},
        check="a GPU Argo workflow step",
    ),
}


def written(case: Case) -> dict[str, Any]:
    """The case's pod as its controller writes it, with the case's changes."""
    pod: dict[str, Any] = yaml.safe_load((WORKLOADS / f"{case.pod}.in.yaml").read_text())
    pod = copy.deepcopy(pod)
    metadata = pod["metadata"]
    metadata["namespace"] = case.namespace
    metadata.setdefault("labels", {}).update(case.labels)
    metadata.setdefault("annotations", {}).update(case.annotations)
    for container in pod["spec"]["containers"][-1:]:
        resources = container.setdefault("resources", {})
        resources.setdefault("requests", {}).update(case.requests)
        resources.setdefault("limits", {}).update(case.requests)
    return pod


def policy_dir(tmp: Path, case: Case) -> Path:
    directory = tmp / "policies"
    directory.mkdir()
    for path in SHIPPED_POLICIES.glob("*.yaml"):
        if not path.name.endswith(".test.yaml"):
            (directory / path.name).write_text(path.read_text())
    (directory / "50-case.yaml").write_text(case.policies)
    return directory


def reach(directory: Path, pod: dict[str, Any], namespace: str) -> set[str]:
    return set(Cluster.from_policy_set(directory).pools_for(pod, namespace))


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_the_engine_keeps_the_intent(case: Case, tmp_path: Path) -> None:
    directory = policy_dir(tmp_path, case)
    compiled = compile_policy_set(load_policy_set(directory))
    pod = written(case)
    result = mutate(compiled, pod, case.namespace, case.namespace_labels or {})
    assert {name: b.intent for name, b in result.breaches.items()} == case.refused
    for name, intent in case.refused.items():
        assert any(
            w.startswith(f"policy {name}: placement not added ({intent})") for w in result.warnings
        )
    sent = kubectl_patch(pod, result.ops)
    validate_pod(sent)
    assert reach(directory, sent, case.namespace) == case.reach
    again = mutate(compiled, sent, case.namespace, case.namespace_labels or {})
    assert again.ops == [], "the apiserver's second call adds nothing"


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_check_refuses_the_set_naming_policy_class_and_intent(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = policy_dir(tmp_path, case)
    assert main(["check", str(directory)]) == 1
    _, err = capsys.readouterr()
    ((name, intent),) = case.refused.items()
    lines = [line for line in err.splitlines() if f"policy {name}: " in line and case.check in line]
    assert lines, err
    assert any(f"[intent {intent}]" in line for line in lines), lines


# The case with namespace labels is served against a stand-in apiserver in test_namespaces.py.
SERVED = [name for name, case in CASES.items() if case.namespace_labels is None]


@pytest.mark.parametrize("name", SERVED)
def test_the_server_keeps_the_intent_and_counts_it(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    directory = policy_dir(tmp_path, case)
    pod = written(case)
    args = ["--proof-classes", "0"]
    with running_server(tmp_path, [directory], args) as server, client(server) as http:
        answer = response_of(send(http, pod_review(pod, case.namespace)))
        sent = kubectl_patch(pod, patch_of(answer))
        assert reach(directory, sent, case.namespace) == case.reach
        ((policy, intent),) = case.refused.items()
        assert any(
            w.startswith(f"policy {policy}: placement not added ({intent})")
            for w in answer["warnings"]
        )
        again = response_of(send(http, pod_review(sent, case.namespace)))
        assert "patch" not in again, "the apiserver's second call adds nothing"
        _, samples = scrape(server)
        assert value(samples, "placement_webhook_placement_refused_total", policy=policy) == 1
        by_intent = "placement_webhook_placement_refused_by_intent_total"
        assert value(samples, by_intent, intent=intent) == 1
