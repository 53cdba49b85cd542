"""Node affinity: a required expression is ANDed into every nodeSelectorTerm (terms are ORed,
so a term left without it is a way around it), or becomes one new term; an expression on a key
the pod already constrains otherwise is skipped with a note; preferred terms are appended;
mirrorNodeSelector copies the nodeSelector into an equal required term."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import (
    compiled,
    expr,
    mutated,
    pod,
    policy,
    preferred_node_of,
    required_terms,
    required_terms_of,
)
from webhook.engine import Result

G1 = expr("ng-name", "In", "g1")
SPOT = expr("karpenter.sh/capacity-type", "In", "spot")
ZONE_A = expr("topology.kubernetes.io/zone", "In", "eu-west-1a")
ZONE_B = expr("topology.kubernetes.io/zone", "In", "eu-west-1b")
AMD64 = expr("kubernetes.io/arch", "In", "amd64")
ON_DEMAND = expr("ng-name", "In", "ondemand")


def requiring(*exprs: dict[str, Any]) -> Any:
    return compiled(policy("route", {"nodeAffinity": {"required": list(exprs)}}))


def notes(result: Result) -> list[str]:
    return [n for o in result.outcomes for n in o.notes]


REQUIRED = {
    "a pod without affinity gets one new term": ([G1], pod(), [[G1]]),
    "a pod with an empty affinity gets one new term": ([G1], pod(affinity={}), [[G1]]),
    "a null nodeAffinity is replaced by the new term": (
        [G1],
        pod(affinity={"nodeAffinity": None}),
        [[G1]],
    ),
    "a null required block is replaced by the new term": (
        [G1],
        pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": None}}),
        [[G1]],
    ),
    "an empty term list gets one new term": (
        [G1],
        pod(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}
                }
            }
        ),
        [[G1]],
    ),
    "two expressions go into the same new term": ([G1, SPOT], pod(), [[G1, SPOT]]),
    "the expression is ANDed into the pod's single term": (
        [G1],
        pod(affinity=required_terms([ZONE_A])),
        [[ZONE_A, G1]],
    ),
    "the expression is ANDed into every term, not only the first": (
        [G1],
        pod(affinity=required_terms([ZONE_A], [ZONE_B, AMD64])),
        [[ZONE_A, G1], [ZONE_B, AMD64, G1]],
    ),
    "a term that already has the expression is left alone": (
        [G1],
        pod(affinity=required_terms([ZONE_A, G1], [ZONE_B])),
        [[ZONE_A, G1], [ZONE_B, G1]],
    ),
    "values in another order are the same expression": (
        [expr("ng-name", "In", "g1", "g2")],
        pod(affinity=required_terms([expr("ng-name", "In", "g2", "g1")])),
        [[expr("ng-name", "In", "g2", "g1")]],
    ),
    "a term with only matchFields pins the pod to a node: nothing is added": (
        [G1],
        pod(
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": ["n1"]}
                                ]
                            }
                        ]
                    }
                }
            }
        ),
        [[]],
    ),
    "a nodeSelector that agrees with the expression does not stop it": (
        [G1],
        pod(node_selector={"ng-name": "g1"}),
        [[G1]],
    ),
    "Exists is added next to a nodeSelector on the same key": (
        [expr("ng-name", "Exists")],
        pod(node_selector={"ng-name": "g1"}),
        [[expr("ng-name", "Exists")]],
    ),
}


@pytest.mark.parametrize(
    ("wanted", "before", "expected"), list(REQUIRED.values()), ids=list(REQUIRED)
)
def test_required_node_affinity(wanted: list[Any], before: Any, expected: Any) -> None:
    _, after = mutated(requiring(*wanted), before)
    assert required_terms_of(after) == expected


def test_other_affinities_and_preferred_terms_stay_as_they_were() -> None:
    anti = {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {"matchLabels": {"app": "db"}},
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    }
    preferred = [{"weight": 5, "preference": {"matchExpressions": [ZONE_A]}}]
    before = pod(
        affinity={
            "podAntiAffinity": anti,
            "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred},
        }
    )
    _, after = mutated(requiring(G1), before)
    assert after["spec"]["affinity"]["podAntiAffinity"] == anti
    assert preferred_node_of(after) == preferred
    assert required_terms_of(after) == [[G1]]


SKIPPED = {
    "a term on the same key with another value keeps the pod's choice": (
        [G1],
        pod(affinity=required_terms([ON_DEMAND])),
        [[ON_DEMAND]],
    ),
    "a clash in one term of two skips the expression everywhere": (
        [G1],
        pod(affinity=required_terms([ON_DEMAND], [ZONE_A])),
        [[ON_DEMAND], [ZONE_A]],
    ),
    "NotIn on the same key is another constraint the pod chose": (
        [G1],
        pod(affinity=required_terms([expr("ng-name", "NotIn", "g1")])),
        [[expr("ng-name", "NotIn", "g1")]],
    ),
    "a nodeSelector with another value keeps the pod's choice": (
        [G1],
        pod(node_selector={"ng-name": "ondemand"}),
        [],
    ),
    "DoesNotExist cannot hold with a nodeSelector on the key": (
        [expr("ng-name", "DoesNotExist")],
        pod(node_selector={"ng-name": "g1"}),
        [],
    ),
}


@pytest.mark.parametrize(
    ("wanted", "before", "expected"), list(SKIPPED.values()), ids=list(SKIPPED)
)
def test_required_on_a_key_the_pod_constrains_is_skipped_with_a_note(
    wanted: list[Any], before: Any, expected: Any
) -> None:
    result, after = mutated(requiring(*wanted), before)
    assert required_terms_of(after) == expected
    assert "required node affinity ng-name: the pod's own value kept" in notes(result)
    assert result.warnings == []


def test_only_the_clashing_expression_is_skipped() -> None:
    result, after = mutated(requiring(G1, AMD64), pod(node_selector={"ng-name": "ondemand"}))
    assert required_terms_of(after) == [[AMD64]]
    assert notes(result) == ["required node affinity ng-name: the pod's own value kept"]


PREFER_SPOT = {"weight": 50, "matchExpressions": [SPOT]}
PREFER_SPOT_K8S = {"weight": 50, "preference": {"matchExpressions": [SPOT]}}
PREFER_ZONE_K8S = {"weight": 10, "preference": {"matchExpressions": [ZONE_A]}}

PREFERRED = {
    "a pod without preferred terms gets the list": ([PREFER_SPOT], pod(), [PREFER_SPOT_K8S]),
    "a preferred term is appended after the pod's own": (
        [PREFER_SPOT],
        pod(
            affinity={
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [PREFER_ZONE_K8S]
                }
            }
        ),
        [PREFER_ZONE_K8S, PREFER_SPOT_K8S],
    ),
    "an equal preferred term is not added twice": (
        [PREFER_SPOT],
        pod(
            affinity={
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [PREFER_SPOT_K8S]
                }
            }
        ),
        [PREFER_SPOT_K8S],
    ),
    "the same expression with another weight is another term": (
        [PREFER_SPOT],
        pod(
            affinity={
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {**PREFER_SPOT_K8S, "weight": 1}
                    ]
                }
            }
        ),
        [{**PREFER_SPOT_K8S, "weight": 1}, PREFER_SPOT_K8S],
    ),
    "preferred terms go next to the pod's required ones": (
        [PREFER_SPOT],
        pod(affinity=required_terms([ZONE_A])),
        [PREFER_SPOT_K8S],
    ),
}


@pytest.mark.parametrize(
    ("wanted", "before", "expected"), list(PREFERRED.values()), ids=list(PREFERRED)
)
def test_preferred_node_affinity(wanted: list[Any], before: Any, expected: Any) -> None:
    policies = compiled(policy("prefer", {"nodeAffinity": {"preferred": wanted}}))
    _, after = mutated(policies, before)
    assert preferred_node_of(after) == expected
    assert required_terms_of(after) == required_terms_of(before)


def test_spot_preferred_with_on_demand_fallback_is_one_weighted_term() -> None:
    policies = compiled(
        policy(
            "spot-first",
            {"nodeAffinity": {"preferred": [{"weight": 100, "matchExpressions": [SPOT]}]}},
        )
    )
    _, after = mutated(policies, pod())
    assert required_terms_of(after) == []
    assert preferred_node_of(after) == [{"weight": 100, "preference": {"matchExpressions": [SPOT]}}]


MIRROR = {
    "the nodeSelector becomes one required term and stays": (
        pod(node_selector={"ng-name": "g1", "kubernetes.io/arch": "amd64"}),
        [[G1, AMD64]],
    ),
    "no nodeSelector, nothing to mirror": (pod(), []),
    "mirrored expressions are ANDed into existing terms": (
        pod(node_selector={"ng-name": "g1"}, affinity=required_terms([ZONE_A], [ZONE_B])),
        [[ZONE_A, G1], [ZONE_B, G1]],
    ),
    "an expression already mirrored is not added again": (
        pod(node_selector={"ng-name": "g1"}, affinity=required_terms([G1])),
        [[G1]],
    ),
}


@pytest.mark.parametrize(("before", "expected"), list(MIRROR.values()), ids=list(MIRROR))
def test_mirror_node_selector(before: Any, expected: Any) -> None:
    _, after = mutated(compiled(policy("mirror", {"mirrorNodeSelector": True})), before)
    assert required_terms_of(after) == expected
    assert after["spec"].get("nodeSelector") == before["spec"].get("nodeSelector")


def test_mirror_wins_over_a_routing_expression_on_the_same_key() -> None:
    policies = compiled(
        policy("mirror", {"mirrorNodeSelector": True}, order=1),
        policy("route", {"nodeAffinity": {"required": [G1]}}, order=2),
    )
    result, after = mutated(policies, pod(node_selector={"ng-name": "ondemand"}))
    assert required_terms_of(after) == [[ON_DEMAND]]
    assert result.applied == ["mirror"]
    assert result.warnings == [
        "policy route: required node affinity ng-name kept from policy mirror"
    ]


AGAINST_THE_SELECTOR = {
    # The pod's nodeSelector value decides, as the scheduler reads the expression against a
    # node labelled with it (nodeaffinity.go: Gt/Lt parse the label as an integer).
    "Gt below the pod's own value is added": ("cores", "16", expr("cores", "Gt", "8"), True),
    "Gt above the pod's own value is not": ("cores", "16", expr("cores", "Gt", "32"), False),
    "Lt against a non-integer value is not": ("cores", "many", expr("cores", "Lt", "8"), False),
    "Exists on the pod's own key is added": ("gpu", "a100", expr("gpu", "Exists"), True),
    "DoesNotExist on the pod's own key is not": ("gpu", "a100", expr("gpu", "DoesNotExist"), False),
    "NotIn the pod's own value is not": ("gpu", "a100", expr("gpu", "NotIn", "a100"), False),
}  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value", "wanted", "added"),
    list(AGAINST_THE_SELECTOR.values()),
    ids=list(AGAINST_THE_SELECTOR),
)
def test_an_expression_against_the_pods_own_node_selector_value(
    key: str, value: str, wanted: dict[str, Any], added: bool
) -> None:
    """An expression the pod's own nodeSelector contradicts would leave the pod unschedulable:
    it is not added, and the note says the pod's value was kept."""
    result, after = mutated(requiring(wanted), pod(node_selector={key: value}))
    assert required_terms_of(after) == ([[wanted]] if added else [])
    kept = f"required node affinity {key}: the pod's own value kept"
    assert (kept in notes(result)) is not added
