"""One call reaches a fixed point: a policy that matches on what a later-order policy adds
applies in the same call, so kube-apiserver's reinvocation adds nothing whatever the order;
and the audit annotation has the same value on every call that changes the pod."""

from __future__ import annotations

import json
from typing import Any

from tests.pods import compiled, mutated, plain, pod, policy, toleration
from tests.reviews import review
from webhook.engine import mutate
from webhook.engine.run import MAX_PASSES
from webhook.proof.fixed_point import fixed_point_problems, longest_chain
from webhook.serving.admission import handle

MARK = policy(
    "mark-batch",
    {"annotations": {"example.com/tier": "batch"}},
    match={"podSelector": {"matchLabels": {"tier": "batch"}}},
    order=10,
)
SET_TIER = policy("set-tier", {"labels": {"tier": "batch"}}, order=20)


def test_a_policy_matching_a_label_a_later_policy_adds_applies_in_the_same_call() -> None:
    result, after = mutated(compiled(MARK, SET_TIER), pod())  # also: a second call adds nothing
    assert result.applied == ["set-tier", "mark-batch"]
    assert after["metadata"]["labels"] == {"tier": "batch"}
    assert after["metadata"]["annotations"]["example.com/tier"] == "batch"
    assert after["metadata"]["annotations"]["pod-placement-webhook/policies"] == (
        "set-tier,mark-batch"
    )


def test_explain_reports_the_last_verdict_in_the_order_of_the_set() -> None:
    result = mutate(compiled(MARK, SET_TIER), plain(pod()), "default", explain=True)
    assert [(o.name, o.matched) for o in result.outcomes] == [
        ("mark-batch", True),
        ("set-tier", True),
    ]


OWN = policy(
    "own-placement-note",
    {"labels": {"example.com/placed": "yes"}},
    match={"placement": "own"},
    order=10,
)
SPOT = policy("spot", {"tolerations": [toleration("example.com/spot")]}, order=20)


def test_a_placement_own_policy_sees_the_placement_a_later_policy_added() -> None:
    result, after = mutated(compiled(OWN, SPOT), pod())
    assert result.applied == ["spot", "own-placement-note"]
    assert after["metadata"]["labels"] == {"example.com/placed": "yes"}


def chain(links: int) -> list[dict[str, Any]]:
    """Policy i matches label step=i and adds step=i+1; ordered last link first, so each pass
    over the set moves one link."""
    first = policy("link-0", {"labels": {"step-1": "yes"}}, order=1_000)
    return [first] + [
        policy(
            f"link-{i}",
            {"labels": {f"step-{i + 1}": "yes"}},
            match={"podSelector": {"matchLabels": {f"step-{i}": "yes"}}},
            order=1_000 - i,
        )
        for i in range(1, links)
    ]


def test_a_chain_of_policies_in_reverse_order_is_followed_to_its_end() -> None:
    result, after = mutated(compiled(*chain(MAX_PASSES)), pod())
    assert result.applied == [f"link-{i}" for i in range(MAX_PASSES)]
    assert set(after["metadata"]["labels"]) == {f"step-{i}" for i in range(1, MAX_PASSES + 1)}
    assert not [w for w in result.warnings if "passes" in w]


def test_the_passes_are_bounded_and_stopping_is_reported() -> None:
    result = mutate(compiled(*chain(MAX_PASSES + 2)), plain(pod()), "default")
    assert result.applied == [f"link-{i}" for i in range(MAX_PASSES)]
    assert f"policies still adding after {MAX_PASSES} passes: stopped" in result.warnings


def answer(policies: Any, pod_doc: dict[str, Any]) -> dict[str, Any]:
    body, _ = handle(policies, json.dumps(review(pod_doc)).encode())
    response: dict[str, Any] = json.loads(body)["response"]
    return response


def test_the_audit_annotation_lists_every_policy_that_changed_the_pod_earlier_calls_first() -> None:
    """The apiserver keeps an audit annotation's first value for a request and refuses another:
    a reinvocation that adds nothing sends none; one that adds (another webhook labelled the
    pod in between) lists the earlier calls' policies first, as the pod's annotation does."""
    gpu_route = policy(
        "gold-route",
        {"tolerations": [toleration("example.com/gold")]},
        match={"podSelector": {"matchLabels": {"tier": "gold"}}},
    )
    policies = compiled(SPOT, gpu_route)
    _, after = mutated(policies, pod())
    assert answer(policies, pod())["auditAnnotations"] == {"policies": "spot"}
    assert "auditAnnotations" not in answer(policies, after)  # reinvoked: nothing added
    after["metadata"]["labels"] = {"tier": "gold"}  # another webhook's change
    again, final = mutated(policies, after)
    assert again.applied == ["gold-route"]
    listed = final["metadata"]["annotations"]["pod-placement-webhook/policies"]
    assert listed == "spot,gold-route"
    assert answer(policies, after)["auditAnnotations"] == {"policies": listed}


def test_check_accepts_a_chain_that_reaches_its_fixed_point_in_the_passes_that_run() -> None:
    assert fixed_point_problems(compiled(*chain(MAX_PASSES))) == []


def test_check_refuses_a_chain_one_pass_longer_than_run() -> None:
    (problem,) = fixed_point_problems(compiled(*chain(MAX_PASSES + 1)))
    links = " -> ".join(f"link-{i}" for i in range(MAX_PASSES + 1))
    assert problem.message == (
        f"policy link-{MAX_PASSES}: the chain {links} needs {MAX_PASSES + 1} passes to reach its "
        f"fixed point, and at most {MAX_PASSES} run (each link to a policy earlier in the order "
        "needs one more): change their order"
    )
    assert problem.field == "spec.order"


def test_a_policy_reading_the_webhooks_own_annotation_is_refused() -> None:
    """It could apply only when the apiserver calls again: one call is not the fixed point."""
    follower = policy(
        "after-the-webhook",
        {"labels": {"example.com/placed": "yes"}},
        match={"annotationSelector": {"matchExpressions": [
            {"key": "pod-placement-webhook/policies", "operator": "Exists"}]}},
    )  # fmt: skip
    (problem,) = fixed_point_problems(compiled(follower, SET_TIER))
    assert problem.message == (
        "policy after-the-webhook: reads the annotation pod-placement-webhook/policies, which "
        "the webhook adds after every policy: the policy would apply only when the apiserver "
        "calls again, not in one call"
    )


def test_a_cycle_of_policies_is_bounded_by_its_size() -> None:
    """Two policies enabling each other apply once each: two passes at most."""
    ping = policy("ping", {"labels": {"pong": "yes"}},
                  match={"podSelector": {"matchLabels": {"ping": "yes"}}}, order=20)  # fmt: skip
    pong = policy("pong", {"labels": {"ping": "yes"}},
                  match={"podSelector": {"matchLabels": {"pong": "yes"}}}, order=10)  # fmt: skip
    chain_of = longest_chain(compiled(ping, pong).policies)
    assert len(chain_of.backward) == 1
