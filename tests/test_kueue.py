"""Pods Kueue places: recognised from what Kueue puts on them, left to their ResourceFlavor by
default (`PolicySettings.spec.kueue.placement: leave`), and selectable with `match.queued`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import (
    JOB,
    REPLICASET,
    compiled,
    dns_options_of,
    expr,
    gpu,
    labels_of,
    mutated,
    pod,
    policy,
    required_terms_of,
    settings,
    toleration,
    tolerations_of,
)
from webhook.engine import mutate
from webhook.engine.run import KUEUE_PLACES
from webhook.match.facts import PodFacts

GATE = "kueue.x-k8s.io/admission"
QUEUE = {"kueue.x-k8s.io/queue-name": "user-queue"}
GPU_TOLERATION = toleration("nvidia.com/gpu", "Exists", "NoSchedule")
SPOT = toleration("job", "Exists", "NoSchedule")
G1 = expr("ng-name", "In", "g1")
EVERYTHING = policy(
    "everything",
    {
        "extendedResourceTolerations": {},
        "tolerations": [SPOT],
        "nodeAffinity": {"required": [G1]},
        "dnsConfig": {"options": [{"name": "ndots", "value": "1"}]},
        "labels": {"placed": "yes"},
    },
)


def gated(*names: Any, **extra: Any) -> dict[str, Any]:
    return pod(schedulingGates=[{"name": n} for n in names], **extra)


QUEUED = {
    "the queue-name label its author set": (pod(labels=QUEUE), True),
    "Kueue's admission gate": (gated(GATE), True),
    "Kueue's topology gate": (gated("kueue.x-k8s.io/topology"), True),
    "Kueue's gate after another controller's": (gated("example.com/wait", GATE), True),
    "another controller's gate only": (gated("example.com/wait"), False),
    "the managed label Kueue's pod webhook adds": (
        pod(labels={"kueue.x-k8s.io/managed": "true"}),
        True,
    ),
    "a managed label that says false": (pod(labels={"kueue.x-k8s.io/managed": "false"}), False),
    "the podset label of an admitted Job's pod": (
        pod(labels={"kueue.x-k8s.io/podset": "main"}, owners=[JOB]),
        True,
    ),
    "the local-queue-name label of an admitted workload's pod": (
        pod(labels={"kueue.x-k8s.io/local-queue-name": "user-queue"}, owners=[JOB]),
        True,
    ),
    "a pod of a Deployment Kueue manages": (
        pod(
            annotations={"kueue.x-k8s.io/pod-suspending-parent": "deployment"},
            owners=[REPLICASET],
        ),
        True,
    ),
    "a plain pod": (pod(), False),
    "a Job's pod without Kueue labels": (pod(owners=[JOB]), False),
    "a gate whose name is not a string": (gated(["x"]), False),
    "gates that are not a list": (pod(schedulingGates={"name": GATE}), False),
}


@pytest.mark.parametrize(
    ("subject", "queued"),
    list(QUEUED.values()),
    ids=[f"{k}: {'queued' if v[1] else 'not queued'}" for k, v in QUEUED.items()],
)
def test_what_says_kueue_places_a_pod(subject: dict[str, Any], queued: bool) -> None:
    assert PodFacts(subject, "default").queued is queued


QUEUED_PODS = {
    "a plain pod with the queue-name label": pod(gpu(), labels=QUEUE),
    "a gated plain pod": pod(gpu(), schedulingGates=[{"name": GATE}]),
    "an admitted Job's pod": pod(gpu(), labels={"kueue.x-k8s.io/podset": "main"}, owners=[JOB]),
}


@pytest.mark.parametrize("subject", list(QUEUED_PODS.values()), ids=list(QUEUED_PODS))
def test_kueue_pods_get_no_placement_by_default(subject: dict[str, Any]) -> None:
    result, after = mutated(compiled(EVERYTHING), subject, "team-a")
    # As for DaemonSet pods: what is not placement still applies.
    assert tolerations_of(after) == [GPU_TOLERATION]
    assert SPOT not in tolerations_of(after)
    assert required_terms_of(after) == []
    assert dns_options_of(after) == [{"name": "ndots", "value": "1"}]
    assert labels_of(after)["placed"] == "yes"
    assert [n for o in result.outcomes for n in o.notes] == [KUEUE_PLACES]


def test_kueue_pods_are_placed_when_the_settings_say_place() -> None:
    policies = compiled(settings(kueue={"placement": "place"}), EVERYTHING)
    result, after = mutated(policies, pod(gpu(), labels=QUEUE), "team-a")
    assert tolerations_of(after) == [GPU_TOLERATION, SPOT]
    assert required_terms_of(after) == [[G1]]
    assert [n for o in result.outcomes for n in o.notes] == []


def test_a_pod_kueue_does_not_manage_is_placed() -> None:
    _, after = mutated(compiled(EVERYTHING), pod(gpu()), "team-a")
    assert required_terms_of(after) == [[G1]]


MARK = {"labels": {"matched": "yes"}}


@pytest.mark.parametrize(
    ("queued", "subject", "reason"),
    [
        (True, pod(labels=QUEUE), None),
        (True, pod(), "pod is not placed by Kueue"),
        (False, pod(), None),
        (False, gated(GATE), "pod is placed by Kueue"),
    ],
    ids=[
        "queued true selects a queued pod",
        "queued true skips a pod Kueue does not place",
        "queued false selects a pod Kueue does not place",
        "queued false skips a gated pod",
    ],
)
def test_match_queued(queued: bool, subject: dict[str, Any], reason: str | None) -> None:
    policies = compiled(policy("probe", MARK, match={"queued": queued}))
    (outcome,) = mutate(policies, subject, "default", explain=True).outcomes
    assert (outcome.matched, outcome.reason) == (reason is None, reason)
    if reason is not None:
        assert outcome.clause == "match.queued"


def test_queued_pods_can_be_excluded() -> None:
    policies = compiled(policy("probe", MARK, exclude=[{"queued": True}]))
    assert mutate(policies, pod(labels=QUEUE), "default").applied == []
    assert mutate(policies, pod(), "default").applied == ["probe"]


def test_a_queue_label_a_policy_adds_is_seen_by_later_policies() -> None:
    policies = compiled(
        policy("queue-it", {"labels": QUEUE}, order=1),
        policy("queued-only", MARK, match={"queued": True}, order=2),
    )
    assert mutate(policies, pod(), "default").applied == ["queue-it", "queued-only"]
