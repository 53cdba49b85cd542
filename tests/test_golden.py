"""Whole pods through the shipped policies: `tests/cases/<name>.in.yaml` must become exactly
`<name>.out.yaml`. The namespace is the pod's own metadata.namespace.

After a deliberate change to the policies or the engine, rewrite the outputs with
`PLACEMENT_GOLDEN_UPDATE=1 pytest tests/test_golden.py`, then read every diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.pods import mutated
from webhook.engine import CompiledPolicySet

CASES = Path(__file__).parent / "cases"
NAMES = sorted(p.name.removesuffix(".in.yaml") for p in CASES.glob("*.in.yaml"))
UPDATE = os.environ.get("PLACEMENT_GOLDEN_UPDATE") == "1"


def _read(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _write_expected(name: str, pod: Any) -> None:
    header = f"# {name}.in.yaml after the shipped policies (placement-webhook mutate)\n"
    text = yaml.safe_dump(pod, sort_keys=False, width=100)
    (CASES / f"{name}.out.yaml").write_text(header + text)


def test_every_case_has_an_expected_output() -> None:
    assert len(NAMES) >= 12
    outputs = sorted(p.name.removesuffix(".out.yaml") for p in CASES.glob("*.out.yaml"))
    assert outputs == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_golden_case(name: str, shipped_policies: CompiledPolicySet) -> None:
    before = _read(CASES / f"{name}.in.yaml")
    namespace = before["metadata"].get("namespace", "default")
    # `mutated` applies the patch with kubectl and jsonpatch, validates the Pod, checks that no
    # field of the input changed and that a second pass adds nothing.
    _, after = mutated(shipped_policies, before, namespace)
    if UPDATE:
        _write_expected(name, after)
    assert after == _read(CASES / f"{name}.out.yaml")


# What a platform engineer reads off each expected output (the reference platform's node
# groups): the ng-name group a required term sends the pod to, None for no routing. A
# regenerated output that moves a notebook onto spot fails here even if nobody reads the diff.
GROUPS = {
    "argo-gpu-step": "g1",
    "argo-own-placement": None,
    "bare-pod": "default",
    "cpu-job": "job",
    "daemonset-pod": None,
    "gpu-notebook": None,
    "jupyterhub-server": "ondemand",
    "kfp-v2-step": "job",
    "kube-system-pod": None,
    "kubeflow-notebook": "ondemand",
    "no-evict-job": "ondemand",
    "own-node-selector": None,
    "pytorchjob-gpu-worker": "g1",
    "ray-gpu-worker": None,
    "statefulset-db": "ondemand",
}


def _groups(pod: Any) -> list[str]:
    node = (pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}
    terms = (node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms", []
    )
    return [
        value
        for term in terms
        for e in term.get("matchExpressions", [])
        if e["key"] == "ng-name"
        for value in e["values"]
    ]


@pytest.mark.parametrize(("name", "group"), list(GROUPS.items()))
def test_golden_case_lands_in_the_expected_group(name: str, group: str | None) -> None:
    expected = _read(CASES / f"{name}.out.yaml")
    assert _groups(expected) == ([group] if group else [])
    gpu = any(
        "nvidia.com/gpu"
        in {
            **c.get("resources", {}).get("limits", {}),
            **c.get("resources", {}).get("requests", {}),
        }
        for c in expected["spec"]["containers"]
    )
    tolerated = any(
        t.get("key") == "nvidia.com/gpu" for t in expected["spec"].get("tolerations", [])
    )
    assert tolerated or not gpu, "a GPU pod without the GPU toleration"


def test_every_case_has_an_expected_group() -> None:
    assert sorted(GROUPS) == NAMES
