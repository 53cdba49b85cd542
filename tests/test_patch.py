"""RFC 6902 operations from what policies add: escaping, whole-list vs `/-` appends, null
parents, and several additions under one missing parent. Every patch is applied with kubectl
(the same Go JSON Patch code as kube-apiserver) and with jsonpatch, which must agree."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kube import apply_both, validate_pod
from tests.pods import (
    PROVENANCE,
    annotations_of,
    compiled,
    expr,
    labels_of,
    mutated,
    plain,
    pod,
    policy,
    required_terms,
    toleration,
)
from webhook import patch
from webhook.engine.steps import compute
from webhook.match.facts import PodFacts

ESCAPES = {
    "a plain key is unchanged": ("team", "team"),
    "a slash becomes ~1": ("example.com/team", "example.com~1team"),
    "a tilde becomes ~0": ("a~b", "a~0b"),
    "tilde is escaped before slash, so ~1 in a key stays literal": ("a~1b", "a~01b"),
    "both together": ("x.io/~/y", "x.io~1~0~1y"),
    "an integer index is a string": (3, "3"),
}


@pytest.mark.parametrize(("segment", "escaped"), list(ESCAPES.values()), ids=list(ESCAPES))
def test_escape(segment: str | int, escaped: str) -> None:
    assert patch.escape(segment) == escaped
    assert patch.unescape(escaped) == str(segment)


def test_pointer_escapes_each_segment() -> None:
    assert patch.pointer(("metadata", "annotations", "a/b~c")) == "/metadata/annotations/a~1b~0c"


KEYS_WITH_SLASH_AND_TILDE = {"example.com/a~b": "1", "x~/y": "2", "~1": "3", "/": "4"}


@pytest.mark.parametrize(
    "present",
    [None, {}, {"other/key~": "x"}],
    ids=["annotations absent", "annotations empty", "annotations with an odd key"],
)
def test_keys_with_slash_and_tilde_survive_kubectl(present: dict[str, str] | None) -> None:
    before = plain(pod(annotations=present))
    ops = patch.set_keys(before, ("metadata", "annotations"), KEYS_WITH_SLASH_AND_TILDE)[0]
    after = apply_both(before, ops)
    assert annotations_of(after) == {**(present or {}), **KEYS_WITH_SLASH_AND_TILDE}
    assert patch.apply_ops(before, ops) == after


def test_labels_with_slash_and_tilde_in_keys_survive_kubectl() -> None:
    before = plain(pod(labels={"a/b": "1"}))
    ops = patch.set_keys(before, ("metadata", "labels"), {"c/d~e": "2"})[0]
    assert ops == [{"op": "add", "path": "/metadata/labels/c~1d~0e", "value": "2"}]
    assert labels_of(apply_both(before, ops)) == {"a/b": "1", "c/d~e": "2"}


SPOT = toleration("job", "Exists", "NoSchedule")


def ops_adding(before: Any, add: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations one policy with this `add` section makes on `before` (no provenance)."""
    (one,) = compiled(policy("p", add)).policies
    return compute(one, PodFacts(before, "default"), placement=True).ops


APPENDS = {
    "an absent list is added whole": (
        pod(),
        [{"op": "add", "path": "/spec/tolerations", "value": [SPOT]}],
    ),
    "a null list is added whole": (
        pod(tolerations=None)
        | {"spec": {"containers": [{"name": "a", "image": "b"}], "tolerations": None}},
        [{"op": "add", "path": "/spec/tolerations", "value": [SPOT]}],
    ),
    "an empty list is appended to": (
        pod(tolerations=[]),
        [{"op": "add", "path": "/spec/tolerations/-", "value": SPOT}],
    ),
    "a present list is appended to, never replaced": (
        pod(tolerations=[toleration("a")]),
        [{"op": "add", "path": "/spec/tolerations/-", "value": SPOT}],
    ),
}


@pytest.mark.parametrize(("before", "expected"), list(APPENDS.values()), ids=list(APPENDS))
def test_append_ops(before: dict[str, Any], expected: list[Any]) -> None:
    ops = ops_adding(before, {"tolerations": [SPOT]})
    assert ops == expected
    after = apply_both(plain(before), ops)
    validate_pod(after)


NESTED = {
    "no affinity at all: the whole affinity map": (pod(), "/spec/affinity"),
    "a null affinity: the whole affinity map": (
        pod(affinity=None)
        | {"spec": {"containers": [{"name": "a", "image": "b"}], "affinity": None}},
        "/spec/affinity",
    ),
    "an affinity with only podAntiAffinity: the nodeAffinity map": (
        pod(affinity={"podAntiAffinity": {}}),
        "/spec/affinity/nodeAffinity",
    ),
    "a null nodeAffinity: the nodeAffinity map": (
        pod(affinity={"nodeAffinity": None}),
        "/spec/affinity/nodeAffinity",
    ),
}


@pytest.mark.parametrize(("before", "path"), list(NESTED.values()), ids=list(NESTED))
def test_a_missing_parent_is_added_once_with_the_list_inside(before: Any, path: str) -> None:
    ops = ops_adding(before, {"nodeAffinity": {"required": [expr("ng-name", "In", "g1")]}})
    assert [op["path"] for op in ops] == [path]
    after = apply_both(plain(before), ops)
    validate_pod(after)
    terms = after["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [expr("ng-name", "In", "g1")]}]


G1 = expr("ng-name", "In", "g1")
PREFER = {"weight": 1, "matchExpressions": [expr("zone", "In", "a")]}
PREFER_K8S = {"weight": 1, "preference": {"matchExpressions": [expr("zone", "In", "a")]}}
WORKFLOW = {"labelKeys": ["wf"], "weight": 3, "topologyKey": "k"}
POD_TERM = {
    "weight": 3,
    "podAffinityTerm": {
        "labelSelector": {"matchExpressions": [expr("wf", "In", "w1")]},
        "topologyKey": "k",
    },
}

SHARED_PARENTS = {
    "required and preferred node affinity under a missing nodeAffinity": {
        "nodeAffinity": {"required": [G1], "preferred": [PREFER]}
    },
    "node and pod affinity under a missing affinity": {
        "nodeAffinity": {"preferred": [PREFER]},
        "workflowPodAffinity": WORKFLOW,
    },
    "all three affinity parts at once": {
        "nodeAffinity": {"required": [G1], "preferred": [PREFER]},
        "workflowPodAffinity": WORKFLOW,
    },
}


@pytest.mark.parametrize("add", list(SHARED_PARENTS.values()), ids=list(SHARED_PARENTS))
def test_additions_sharing_a_missing_parent_all_survive(add: dict[str, Any]) -> None:
    before = plain(pod(labels={"wf": "w1"}))
    after = apply_both(before, ops_adding(before, add))
    validate_pod(after)
    affinity = after["spec"]["affinity"]
    node = affinity.get("nodeAffinity", {})
    if "required" in add.get("nodeAffinity", {}):
        assert node["requiredDuringSchedulingIgnoredDuringExecution"] == {
            "nodeSelectorTerms": [{"matchExpressions": [G1]}]
        }
    if "preferred" in add.get("nodeAffinity", {}):
        assert node["preferredDuringSchedulingIgnoredDuringExecution"] == [PREFER_K8S]
    if "workflowPodAffinity" in add:
        assert affinity["podAffinity"] == {
            "preferredDuringSchedulingIgnoredDuringExecution": [POD_TERM]
        }


def test_annotations_and_labels_under_a_missing_metadata_both_survive() -> None:
    before = {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {"containers": [{"name": "a", "image": "b"}]},
    }
    ops = ops_adding(before, {"annotations": {"a/b": "1"}, "labels": {"c": "2"}})
    after = apply_both(before, ops)
    assert after["metadata"] == {"annotations": {"a/b": "1"}, "labels": {"c": "2"}}


def test_required_expressions_go_into_each_term_by_index() -> None:
    before = plain(pod(affinity=required_terms([expr("a", "Exists")], [expr("b", "Exists")])))
    ops = ops_adding(before, {"nodeAffinity": {"required": [G1]}})
    base = "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"
    assert [op["path"] for op in ops] == [
        f"{base}/nodeSelectorTerms/0/matchExpressions/-",
        f"{base}/nodeSelectorTerms/1/matchExpressions/-",
    ]
    validate_pod(apply_both(before, ops))


def test_a_value_of_the_wrong_type_is_a_patch_error_not_a_broken_patch() -> None:
    with pytest.raises(patch.PatchError, match="/spec/tolerations is not a list"):
        patch.append({"spec": {"tolerations": {"a": 1}}}, ("spec", "tolerations"), [SPOT])
    with pytest.raises(patch.PatchError, match="not an object"):
        ops_adding({"spec": {"affinity": "x"}}, {"nodeAffinity": {"preferred": [PREFER]}})


def test_one_policy_adding_every_kind_of_thing_to_a_bare_pod_is_idempotent() -> None:
    policies = compiled(
        policy(
            "everything",
            {
                "tolerations": [SPOT],
                "nodeAffinity": {
                    "required": [expr("ng-name", "In", "g1")],
                    "preferred": [{"weight": 1, "matchExpressions": [expr("z", "Exists")]}],
                },
                "workflowPodAffinity": {"labelKeys": ["wf"]},
                "dnsConfig": {"options": [{"name": "ndots", "value": "1"}]},
                "annotations": {"example.com/a": "1"},
                "labels": {"example.com/b": "2"},
            },
        )
    )
    result, after = mutated(policies, pod(name=None, labels={"wf": "w1"}))
    assert annotations_of(after) == {"example.com/a": "1", PROVENANCE: "everything"}
    assert set(after["spec"]["affinity"]) == {"nodeAffinity", "podAffinity"}
    assert set(after["spec"]["affinity"]["nodeAffinity"]) == {
        "requiredDuringSchedulingIgnoredDuringExecution",
        "preferredDuringSchedulingIgnoredDuringExecution",
    }
    assert all(op["op"] == "add" for op in result.ops)
