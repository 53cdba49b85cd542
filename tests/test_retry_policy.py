"""`kind: RetryPolicy` at load: every value is checked as Argo and kube-apiserver will read it,
a mistake is one line with file, document, line and field (an unknown field names the nearest
known one), and a RetryPolicy needs a spot NodePool to act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.errors import PolicyError
from webhook.kube.validation.argo import duration_errors, duration_seconds, go_duration_nanoseconds
from webhook.policy.load import parse_policy_set

POOLS = """\
apiVersion: pod-placement-webhook/v1
kind: NodePool
metadata: {name: spot}
spec:
  capacityType: spot
  nodeLabels: {pool: spot}
---
"""
HEAD = """\
apiVersion: pod-placement-webhook/v1
kind: RetryPolicy
metadata: {name: spot-retries}
spec:
"""


def load(text: str, name: str = "retries.yaml"):  # type: ignore[no-untyped-def]
    return parse_policy_set([(name, text.encode())])


def error_of(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        load(text)
    return str(caught.value)


def test_a_retry_policy_loads_into_the_set_in_order() -> None:
    second = HEAD.replace("spot-retries", "b") + "  jobs: {}\n"
    first = HEAD.replace("spot-retries", "a") + "  order: 200\n  jobs: {}\n"
    early = HEAD.replace("spot-retries", "z") + "  order: 1\n  jobs: {}\n"
    loaded = load(POOLS + second + "---\n" + first + "---\n" + early)
    assert [r.name for r in loaded.retries] == ["z", "b", "a"]
    assert loaded.policies == ()  # RetryPolicies are not placement policies


def test_the_workflow_retry_strategy_is_spelt_as_argo_spells_it() -> None:
    text = (
        POOLS
        + HEAD
        + (
            "  workflows:\n    limit: 3\n"
            "    backoff: {duration: 90s, factor: 2, maxDuration: 1h, cap: '600'}\n"
        )
    )
    (policy,) = load(text).retries
    assert policy.spec.workflows is not None
    assert policy.spec.workflows.retry_strategy() == {
        "limit": 3,
        "retryPolicy": "OnError",  # the default: a deleted pod, never the step's own failure
        "backoff": {"duration": "90s", "factor": 2, "maxDuration": "1h", "cap": "600"},
    }


ERRORS = {
    "a misspelt section names the right one": (
        HEAD + "  workflow: {limit: 5}\n",
        "document 2, line 12: spec.workflow: unknown field; did you mean 'workflows'?",
    ),
    "a misspelt retry policy field": (
        HEAD + "  workflows: {limit: 5, retryPolcy: OnError}\n",
        "spec.workflows.retryPolcy: unknown field; did you mean 'retryPolicy'?",
    ),
    "a retry policy Argo does not have": (
        HEAD + "  workflows: {limit: 5, retryPolicy: OnEviction}\n",
        "spec.workflows.retryPolicy: Input should be 'OnError', 'OnTransientError', 'Always' or "
        "'OnFailure'",
    ),
    "no retries at all": (
        HEAD + "  workflows: {limit: 0}\n",
        "spec.workflows.limit: Input should be greater than or equal to 1",
    ),
    "a limit past int32": (
        HEAD + "  workflows: {limit: 2147483648}\n",
        "spec.workflows.limit: Input should be less than or equal to 2147483647",
    ),
    "a duration Argo cannot parse": (
        HEAD + "  workflows: {limit: 5, backoff: {duration: 5 minutes}}\n",
        "line 12: spec.workflows.backoff.duration: '5 minutes' is no duration Argo reads",
    ),
    "a negative duration": (
        HEAD + "  workflows: {limit: 5, backoff: {duration: '-5m'}}\n",
        "spec.workflows.backoff.duration: '-5m' must be longer than zero",
    ),
    "a cap in days": (
        HEAD + "  workflows: {limit: 5, backoff: {duration: 1m, cap: 1d}}\n",
        "spec.workflows.backoff.cap: '1d' is no duration Argo reads",
    ),
    "a factor of zero": (
        HEAD + "  workflows: {limit: 5, backoff: {duration: 1m, factor: 0}}\n",
        "spec.workflows.backoff.factor: Input should be greater than or equal to 1",
    ),
    "a backoff without its duration": (
        HEAD + "  workflows: {limit: 5, backoff: {factor: 2}}\n",
        "spec.workflows.backoff.duration: Field required",
    ),
    "neither jobs nor workflows": (
        HEAD + "  match: {workloads: [job]}\n",
        "spec: give `jobs`, `workflows` or both: what the retries are for",
    ),
    "jobs takes no settings": (
        HEAD + "  jobs: {limit: 5}\n",
        "spec.jobs.limit: unknown field",
    ),
    "a workload name that does not exist": (
        HEAD + "  match: {workloads: [jobs]}\n  jobs: {}\n",
        "spec.match.workloads[0]: Input should be",
    ),
}


@pytest.mark.parametrize(("text", "expected"), list(ERRORS.values()), ids=list(ERRORS))
def test_a_bad_retry_policy_is_one_line_at_its_field(text: str, expected: str) -> None:
    message = error_of(POOLS + text)
    assert message.startswith("retries.yaml, document 2, line "), message
    assert expected in message
    assert "\n" not in message


def test_a_retry_policy_needs_a_spot_pool() -> None:
    on_demand = POOLS.replace("capacityType: spot", "capacityType: on-demand")
    message = error_of(on_demand + HEAD + "  jobs: {}\n")
    assert message == (
        "retries.yaml, document 2, line 12: spec: a RetryPolicy gives retries to work the set "
        "sends to a spot pool, and the set declares no NodePool with capacityType: spot"
    )
    assert "no NodePool" in error_of(HEAD + "  jobs: {}\n")  # no pools at all


def test_two_retry_policies_may_not_share_a_name(tmp_path: Path) -> None:
    message = error_of(POOLS + HEAD + "  jobs: {}\n---\n" + HEAD + "  jobs: {}\n")
    assert "retry policy 'spot-retries' is already defined in retries.yaml" in message
    # A PlacementPolicy of the same name is another kind: no conflict.
    placement = HEAD.replace("RetryPolicy", "PlacementPolicy") + "  add: {labels: {a: b}}\n"
    assert load(POOLS + HEAD + "  jobs: {}\n---\n" + placement).retries


# ParseStringToDuration (argo-workflows pkg/apis/workflow/v1alpha1/utils.go): strconv.Atoi, then
# Go's time.ParseDuration (src/time/format.go).
DURATIONS = {
    "300": 300.0,
    "+300": 300.0,
    "0": 0.0,
    "5m": 300.0,
    "90s": 90.0,
    "1h30m": 5400.0,
    "1.5h": 5400.0,
    ".5s": 0.5,
    "1.s": 1.0,
    "100ms": 0.1,
    "1\u00b5s": 1e-6,
    "1\u03bcs": 1e-6,
    "2h45m30.5s": 9930.5,
    "-5m": -300.0,
}
NOT_DURATIONS = [
    "", "5", "m", "5 m", "5m ", " 5m", "5min", "1d", ".s", "1e3s", "five", "5m-", "--5m",
    "3000000h",  # past an int64 of nanoseconds
    "1_000s",
]  # fmt: skip


@pytest.mark.parametrize(("text", "seconds"), list(DURATIONS.items()), ids=list(DURATIONS))
def test_durations_argo_reads(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", NOT_DURATIONS)
def test_durations_argo_refuses(text: str) -> None:
    if text == "5":
        assert duration_seconds(text) == 5.0  # a bare number is seconds (Atoi), not a Go duration
        assert go_duration_nanoseconds(text) is None  # "missing unit in duration"
        return
    assert duration_seconds(text) is None
    assert duration_errors(text) != []
