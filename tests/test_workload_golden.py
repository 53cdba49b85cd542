"""Pods of the real ML stack (`tests/cases/workloads/<name>.in.yaml`, each written as its
controller writes it, citing the upstream source) through the shipped set and every example.

`<name>.out.yaml` holds, for each set, what each policy adds to the pod (as `--explain` and
policy tests name it). Every result is also applied with kubectl, validated, unchanged by a
second pass, and fits at least one of the set's node pools; the pods the sets keep off spot
(notebooks, model servers, data stores, pods not to be evicted) never fit only spot pools when
an on-demand pool could run them.

After a deliberate change, rewrite the outputs with
`PLACEMENT_GOLDEN_UPDATE=1 pytest tests/test_workload_golden.py`, then read every diff.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.pods import SHIPPED_POLICIES, mutated, plain
from webhook.engine import CompiledPolicySet, compile_policy_set, mutate
from webhook.kube.scheduling import why_not
from webhook.match.clauses import compile_match, first_failure
from webhook.match.facts import PodFacts
from webhook.policy import load_policy_set
from webhook.tools.policytest import additions_by_policy

CASES = Path(__file__).parent / "cases" / "workloads"
NAMES = sorted(p.name.removesuffix(".in.yaml") for p in CASES.glob("*.in.yaml"))
SETS = {"shipped": SHIPPED_POLICIES} | {
    p.name: p for p in sorted((SHIPPED_POLICIES / "examples").iterdir())
}
UPDATE = os.environ.get("PLACEMENT_GOLDEN_UPDATE") == "1"


@cache
def policy_set(name: str) -> CompiledPolicySet:
    return compile_policy_set(load_policy_set(SETS[name]))


def read(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_every_pod_has_its_expected_outcomes() -> None:
    assert len(NAMES) >= 30
    outputs = sorted(p.name.removesuffix(".out.yaml") for p in CASES.glob("*.out.yaml"))
    assert outputs == NAMES


def outcomes(name: str) -> dict[str, Any]:
    """What each policy of each set adds to the pod."""
    pod = read(CASES / f"{name}.in.yaml")
    namespace = pod["metadata"].get("namespace", "default")
    found = {}
    for set_name in SETS:
        result = mutate(policy_set(set_name), pod, namespace, explain=True)
        found[set_name] = additions_by_policy(result, result.applied)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_what_each_set_adds(name: str) -> None:
    found = outcomes(name)
    if UPDATE:
        header = f"# {name}.in.yaml through each policy set: what each policy adds\n"
        text = yaml.safe_dump(found, sort_keys=False, width=100)
        (CASES / f"{name}.out.yaml").write_text(header + text)
    assert found == read(CASES / f"{name}.out.yaml")


@pytest.mark.parametrize("set_name", list(SETS))
@pytest.mark.parametrize("name", NAMES)
def test_the_result_applies_validates_is_stable_and_can_run(name: str, set_name: str) -> None:
    pod = read(CASES / f"{name}.in.yaml")
    namespace = pod["metadata"].get("namespace", "default")
    compiled = policy_set(set_name)
    # `mutated` applies the patch with kubectl and jsonpatch, validates the Pod, checks that no
    # field of the input changed and that a second pass adds nothing.
    _, after = mutated(compiled, pod, namespace)
    extended = tuple(sorted(PodFacts(after, namespace).extended))
    fitting = [p for p in compiled.pools if why_not(after, p.node, extended) is None]
    # A pod that no pool of this set runs as its author wrote it (a Kueue flavor of another
    # cluster) is not the set's doing; every other pod must be able to run.
    unplaced = mutate(compiled, pod, namespace, place=False).pod
    could = [p for p in compiled.pools if why_not(unplaced, p.node, extended) is None]
    assert fitting or not could, f"{name} fits none of the {set_name} pools"
    if kept_off_spot(compiled, plain(pod), namespace) and any(not p.spot for p in could):
        assert any(not p.spot for p in fitting), f"{name} fits only spot pools in {set_name}"


def kept_off_spot(compiled: CompiledPolicySet, pod: Any, namespace: str) -> bool:
    facts = PodFacts(pod, namespace)
    classes = compiled.settings.keep_off_spot
    return any(first_failure(compile_match(m), facts) is None for m in classes)
