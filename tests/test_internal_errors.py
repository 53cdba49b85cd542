"""How a failure inside the webhook shows in its answer.

The webhook fails open: a review it fails on is still answered 200 and allowed, so only the
warnings tell. Every check in the suite that a review was really handled (`check_response`,
`internal_errors` in tests/reviews.py) looks for the words these tests pin; were they to
change, those checks would pass on a failing engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from tests.pods import compiled, policy, shipped, toleration
from tests.reviews import check_response, gpu_pod, internal_errors, review
from webhook.serving.admission import handle


class LookupBroke(Exception):
    pass


def broken_lookup(namespace: str) -> tuple[Mapping[str, str] | None, str | None]:
    raise LookupBroke(f"no labels for {namespace}")


def test_a_review_the_webhook_fails_on_is_admitted_unchanged_with_the_words() -> None:
    body = json.dumps(review(gpu_pod())).encode()
    answer, outcome = handle(shipped(), body, broken_lookup)
    response = json.loads(answer)["response"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert internal_errors(response) == [
        "pod-placement-webhook: internal error, pod admitted unchanged"
    ]
    assert outcome.result == "error"
    assert outcome.errors == ["LookupBroke: no labels for ml"]
    with pytest.raises(AssertionError, match="the webhook failed on the pod"):
        check_response(response, patched=None, policy_errors=True)


def test_the_same_review_without_the_failure_is_patched() -> None:
    answer, outcome = handle(shipped(), json.dumps(review(gpu_pod())).encode())
    check_response(json.loads(answer)["response"])
    assert outcome.result == "patched"


def test_an_answer_that_cannot_be_encoded_admits_the_pod_unchanged() -> None:
    """Everything after parsing is inside the guard, encoding the answer included: a value
    JSON cannot carry (an integer beyond 64 bits, which the policy loader refuses; here put
    into a compiled policy behind the loader's back) fails the encoding, and the pod is still
    answered, unchanged, with the words."""
    spot = toleration("example.com/spot", effect="NoExecute")
    policies = compiled(policy("tolerate", {"tolerations": [spot]}))
    (addition,) = policies.policies[0].additions
    addition.rule[0]["tolerationSeconds"] = 2**70
    answer, outcome = handle(policies, json.dumps(review(gpu_pod())).encode())
    response = json.loads(answer)["response"]
    assert response["allowed"] is True
    assert "patch" not in response
    assert internal_errors(response) == [
        "pod-placement-webhook: internal error, pod admitted unchanged"
    ]
    assert outcome.result == "error"
    assert outcome.applied == []
    assert outcome.errors and "Integer exceeds 64-bit range" in outcome.errors[0]
