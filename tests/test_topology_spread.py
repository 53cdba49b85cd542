"""topologySpreadConstraints: appended unless the pod has an equal one; the pod's own constraint
on the same topologyKey and whenUnsatisfiable wins (kube-apiserver refuses two), and none is
added to a DaemonSet pod. Every patch is applied with kubectl and the pod validated."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.pods import DAEMONSET, compiled, mutated, pod, policy
from webhook.errors import PolicyError
from webhook.policy.load import parse_policy_set

ZONE = {
    "maxSkew": 1,
    "topologyKey": "topology.kubernetes.io/zone",
    "whenUnsatisfiable": "ScheduleAnyway",
}
# matchLabelKeys narrows a labelSelector (kube-apiserver refuses it alone).
BY_RUN = {
    **ZONE,
    "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
    "matchLabelKeys": ["workflows.argoproj.io/workflow"],
}
PINNED = "a DaemonSet or static pod: placement is never added"
KEPT = (
    "topology spread constraint topology.kubernetes.io/zone ScheduleAnyway: "
    "the pod's own value kept"
)
HOST = {
    "maxSkew": 2,
    "topologyKey": "kubernetes.io/hostname",
    "whenUnsatisfiable": "DoNotSchedule",
    "labelSelector": {"matchLabels": {"app": "web"}},
    "minDomains": 3,
}
SPREAD = policy("spread", {"topologySpreadConstraints": [BY_RUN]})

ROWS: dict[str, tuple[Any, list[Any], list[str]]] = {
    "a pod with none gets the list": (pod(), [BY_RUN], []),
    "a pod with another pair keeps it and gets the new one appended": (
        pod(topologySpreadConstraints=[HOST]),
        [HOST, BY_RUN],
        [],
    ),
    "a pod with the equal constraint gets nothing": (
        pod(topologySpreadConstraints=[BY_RUN]),
        [BY_RUN],
        [],
    ),
    "a pod with its own constraint on the same pair keeps it": (
        pod(topologySpreadConstraints=[{**ZONE, "maxSkew": 5}]),
        [{**ZONE, "maxSkew": 5}],
        [KEPT],
    ),
    "a DaemonSet pod gets none": (
        pod(owners=[DAEMONSET]),
        [],
        ["a DaemonSet or static pod: placement is never added"],
    ),
}


@pytest.mark.parametrize(("before", "after", "notes"), list(ROWS.values()), ids=list(ROWS))
def test_spread_constraints(before: Any, after: list[Any], notes: list[str]) -> None:
    result, patched = mutated(compiled(SPREAD), before)
    assert patched["spec"].get("topologySpreadConstraints", []) == after
    assert [n for o in result.outcomes for n in o.notes] == notes


def test_two_policies_on_the_same_pair_keep_the_first() -> None:
    first = policy("first", {"topologySpreadConstraints": [ZONE]}, order=1)
    second = policy("second", {"topologySpreadConstraints": [{**ZONE, "maxSkew": 3}]}, order=2)
    result, patched = mutated(compiled(first, second), pod())
    assert patched["spec"]["topologySpreadConstraints"] == [ZONE]
    assert result.warnings == [
        "policy second: topology spread constraint topology.kubernetes.io/zone ScheduleAnyway "
        "kept from policy first"
    ]


def test_every_field_reaches_the_pod() -> None:
    _, patched = mutated(compiled(policy("host", {"topologySpreadConstraints": [HOST]})), pod())
    assert patched["spec"]["topologySpreadConstraints"] == [HOST]


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ({**ZONE, "maxSkew": 0}, "greater than or equal to 1"),
        ({**ZONE, "minDomains": 2}, "can only use minDomains if whenUnsatisfiable=DoNotSchedule"),
        (
            {**ZONE, "matchLabelKeys": ["app"]},
            "must not be specified when labelSelector is not set",
        ),
        ({**ZONE, "whenUnsatisfiable": "Sometimes"}, "Input should be 'DoNotSchedule' or"),
        ({**ZONE, "topologyKey": ""}, "topologyKey: Required value: can not be empty"),
    ],
    ids=[
        "a skew of zero",
        "minDomains while scheduling anyway",
        "matchLabelKeys without a labelSelector",
        "an unknown policy",
        "no topology key",
    ],
)
def test_a_constraint_kube_apiserver_would_refuse_is_refused_at_load(
    constraint: dict[str, Any], message: str
) -> None:
    text = yaml.safe_dump(policy("p", {"topologySpreadConstraints": [constraint]}))
    with pytest.raises(PolicyError, match=r"spec\.add\.topologySpreadConstraints") as caught:
        parse_policy_set([("p.yaml", text.encode())])
    assert message in str(caught.value)


def test_errors_the_pods_own_constraints_already_have_are_not_the_policys() -> None:
    """The pod repeats its own pair (kube-apiserver refuses it whatever is added): the policy
    adding a constraint on another pair is still applied, not blamed for the pod's error."""
    own = [HOST, dict(HOST, maxSkew=3)]
    result, after = mutated(compiled(SPREAD), pod(topologySpreadConstraints=own))
    assert result.invalid == []
    assert result.applied == ["spread"]
    assert after["spec"]["topologySpreadConstraints"] == [*own, BY_RUN]
