"""Tolerations a policy lists: appended when no equal toleration is there (upstream equality:
key, operator, value, effect; an empty operator is Equal), never reordered or replaced."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import compiled, mutated, pod, policy, toleration, tolerations_of

SPOT_AWS = toleration("job", "Exists", "NoSchedule")
SPOT_AKS = toleration("kubernetes.azure.com/scalesetpriority", "Equal", "NoSchedule", "spot")
SPOT_GKE = toleration("cloud.google.com/gke-spot", "Equal", "NoSchedule", "true")


def adding(*tolerations: dict[str, Any]) -> Any:
    return compiled(policy("spot", {"tolerations": list(tolerations)}))


ROWS = {
    "a pod without tolerations gets the whole list": (
        [SPOT_AWS, SPOT_AKS],
        None,
        [SPOT_AWS, SPOT_AKS],
    ),
    "an empty tolerations list is appended to": ([SPOT_AWS], [], [SPOT_AWS]),
    "existing tolerations stay first, in their order": (
        [SPOT_GKE],
        [toleration("b", "Exists"), toleration("a", "Exists")],
        [toleration("b", "Exists"), toleration("a", "Exists"), SPOT_GKE],
    ),
    "an equal toleration is not added twice": ([SPOT_AKS], [SPOT_AKS], [SPOT_AKS]),
    "the pod's empty operator equals the policy's Equal": (
        [SPOT_AKS],
        [{**SPOT_AKS, "operator": ""}],
        [{**SPOT_AKS, "operator": ""}],
    ),
    "the pod's missing operator equals the policy's Equal": (
        [SPOT_AKS],
        [{k: v for k, v in SPOT_AKS.items() if k != "operator"}],
        [{k: v for k, v in SPOT_AKS.items() if k != "operator"}],
    ),
    "another value is another toleration": (
        [SPOT_AKS],
        [{**SPOT_AKS, "value": "regular"}],
        [{**SPOT_AKS, "value": "regular"}, SPOT_AKS],
    ),
    "another effect is another toleration": (
        [SPOT_AWS],
        [toleration("job", "Exists", "NoExecute")],
        [toleration("job", "Exists", "NoExecute"), SPOT_AWS],
    ),
    "a wildcard toleration is not equal to a keyed one": (
        [SPOT_AWS],
        [toleration(operator="Exists")],
        [toleration(operator="Exists"), SPOT_AWS],
    ),
    "a policy listing the same toleration twice adds it once": (
        [SPOT_AWS, SPOT_AWS],
        None,
        [SPOT_AWS],
    ),
    "tolerationSeconds on NoExecute is kept as written": (
        [{**toleration("spot", "Exists", "NoExecute"), "tolerationSeconds": 120}],
        None,
        [{"key": "spot", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 120}],
    ),
}


@pytest.mark.parametrize(("wanted", "before", "expected"), list(ROWS.values()), ids=list(ROWS))
def test_policy_tolerations(wanted: list[Any], before: Any, expected: list[Any]) -> None:
    _, after = mutated(adding(*wanted), pod(tolerations=before))
    assert tolerations_of(after) == expected


def test_two_policies_adding_the_same_toleration_add_it_once() -> None:
    policies = compiled(
        policy("first", {"tolerations": [SPOT_AWS]}, order=1),
        policy("second", {"tolerations": [SPOT_AWS, SPOT_GKE]}, order=2),
    )
    result, after = mutated(policies, pod())
    assert tolerations_of(after) == [SPOT_AWS, SPOT_GKE]
    assert result.applied == ["first", "second"]


def test_extended_resource_and_listed_tolerations_are_deduplicated_together() -> None:
    gpu_taint = toleration("nvidia.com/gpu", "Exists", "NoSchedule")
    policies = compiled(
        policy("gpu", {"extendedResourceTolerations": {}, "tolerations": [gpu_taint]})
    )
    _, after = mutated(
        policies, pod({"name": "m", "image": "i", "resources": {"limits": {"nvidia.com/gpu": 1}}})
    )
    assert tolerations_of(after) == [gpu_taint]
