"""Jobs, CronJobs and Argo workflows from real sources (`tests/cases/retries/<name>.in.yaml`,
each citing where it comes from and written as kube-apiserver hands it to the webhook at
CREATE) through the shipped set and every cloud example.

`<name>.out.yaml` holds, for each set, the RetryPolicy that applies, what it adds, why it adds
nothing, and the warnings. Every result is also applied with kubectl, accepted by kube-apiserver's
rules (the Job schema and the ported batch rules, the Argo Workflow CRD schema), keeps what its
author wrote, and is unchanged by a second review.

After a deliberate change, rewrite the outputs with
`PLACEMENT_GOLDEN_UPDATE=1 pytest tests/test_retry_golden.py`, then read every diff.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.pods import SHIPPED_POLICIES, plain
from tests.retries import assert_accepted, reviewed
from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.policy import load_policy_set

CASES = Path(__file__).parent / "cases" / "retries"
NAMES = sorted(p.name.removesuffix(".in.yaml") for p in CASES.glob("*.in.yaml"))
SETS = {"shipped": SHIPPED_POLICIES} | {
    p.name: p for p in sorted((SHIPPED_POLICIES / "examples").iterdir())
}
UPDATE = os.environ.get("PLACEMENT_GOLDEN_UPDATE") == "1"


@cache
def policy_set(name: str) -> CompiledPolicySet:
    return compile_policy_set(load_policy_set(SETS[name]))


def read(name: str) -> Any:
    return yaml.safe_load((CASES / f"{name}.in.yaml").read_text())


def test_the_cases_cover_what_the_sources_must():
    kinds = {read(name)["kind"] for name in NAMES}
    assert kinds == {"Job", "CronJob", "Workflow", "CronWorkflow", "WorkflowTemplate"}
    outputs = sorted(p.name.removesuffix(".out.yaml") for p in CASES.glob("*.out.yaml"))
    assert outputs == NAMES


def outcomes(name: str) -> dict[str, Any]:
    obj = read(name)
    found = {}
    for set_name in SETS:
        result, _ = reviewed(policy_set(set_name), obj, obj["metadata"]["namespace"])
        found[set_name] = plain(
            {
                "policy": result.policy,
                "added": result.added,
                "refused": result.refused,
                "notes": result.notes,
                "warnings": result.warnings,
            }
        )
    return found


@pytest.mark.parametrize("name", NAMES)
def test_what_each_set_adds(name: str) -> None:
    """Also: each result applies with kubectl, is accepted, keeps the user's fields and is
    stable (`reviewed`)."""
    found = outcomes(name)
    if UPDATE:
        header = f"# {name}.in.yaml through each policy set: the retries it gains\n"
        text = yaml.safe_dump(found, sort_keys=False, width=100)
        (CASES / f"{name}.out.yaml").write_text(header + text)
    assert found == yaml.safe_load((CASES / f"{name}.out.yaml").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_every_input_is_what_the_apiserver_accepts(name: str) -> None:
    """The inputs are real: the apiserver's own rules accept each one as it is."""
    assert_accepted(read(name))
