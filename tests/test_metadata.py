"""Annotations and labels: added only when the key is absent; a key the pod has keeps its value.
Keys with `/` and `~` travel through the patch escaped (`~1`, `~0`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import PROVENANCE, annotations_of, compiled, labels_of, mutated, pod, policy
from webhook.engine import Result

SAFE = "cluster-autoscaler.kubernetes.io/safe-to-evict"
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"


def adding(annotations: Any = None, labels: Any = None) -> Any:
    add: dict[str, Any] = {}
    if annotations:
        add["annotations"] = annotations
    if labels:
        add["labels"] = labels
    return compiled(policy("keep", add))


def notes(result: Result) -> list[str]:
    return [n for o in result.outcomes for n in o.notes]


ANNOTATIONS = {
    "a pod without annotations gets the map": ({SAFE: "false"}, pod(), {SAFE: "false"}),
    "a null annotations map is filled in": (
        {SAFE: "false"},
        pod(annotations=None),
        {SAFE: "false"},
    ),
    "the pod's other annotations stay": (
        {SAFE: "false", DO_NOT_DISRUPT: "true"},
        pod(annotations={"team": "ml"}),
        {"team": "ml", SAFE: "false", DO_NOT_DISRUPT: "true"},
    ),
    "prefixed keys are added next to the pod's own odd ones": (
        {"example.com/a-b": "1", "x/y": "2"},
        pod(annotations={"e.com/t~": "0"}),
        {"e.com/t~": "0", "example.com/a-b": "1", "x/y": "2"},
    ),
}


@pytest.mark.parametrize(
    ("wanted", "before", "expected"), list(ANNOTATIONS.values()), ids=list(ANNOTATIONS)
)
def test_annotations_added_when_absent(wanted: Any, before: Any, expected: Any) -> None:
    _, after = mutated(adding(annotations=wanted), before)
    assert {k: v for k, v in annotations_of(after).items() if k != PROVENANCE} == expected
    assert annotations_of(after)[PROVENANCE] == "keep"


def test_an_annotation_the_pod_has_keeps_its_value_with_a_note() -> None:
    result, after = mutated(adding(annotations={SAFE: "false"}), pod(annotations={SAFE: "true"}))
    assert annotations_of(after) == {SAFE: "true"}
    assert result.applied == []
    assert notes(result) == [f"annotation {SAFE}: the pod's own value kept"]


LABELS = {
    "a pod without labels gets the map": ({"tier": "batch"}, pod(name=None), {"tier": "batch"}),
    "the pod's other labels stay": (
        {"tier": "batch"},
        pod(labels={"app": "x"}),
        {"app": "x", "tier": "batch"},
    ),
    "a label the pod has keeps its value": (
        {"tier": "batch"},
        pod(labels={"tier": "web"}),
        {"tier": "web"},
    ),
    "a label key with a prefix is escaped in the patch": (
        {"example.com/pool": "spot"},
        pod(labels={}),
        {"example.com/pool": "spot"},
    ),
}


@pytest.mark.parametrize(("wanted", "before", "expected"), list(LABELS.values()), ids=list(LABELS))
def test_labels_added_when_absent(wanted: Any, before: Any, expected: Any) -> None:
    _, after = mutated(adding(labels=wanted), before)
    assert labels_of(after) == expected


def test_the_provenance_annotation_lists_every_policy_that_changed_the_pod() -> None:
    policies = compiled(
        policy("first", {"labels": {"a": "1"}}, order=1),
        policy("unchanged", {"labels": {"app": "other"}}, order=2),
        policy("second", {"annotations": {"b": "2"}}, order=3),
    )
    result, after = mutated(policies, pod(labels={"app": "x"}))
    assert result.applied == ["first", "second"]
    assert annotations_of(after) == {"b": "2", PROVENANCE: "first,second"}


def test_the_provenance_annotation_key_is_a_setting() -> None:
    policies = compiled(
        {
            "apiVersion": "pod-placement-webhook/v1",
            "kind": "PolicySettings",
            "spec": {"annotationKey": "example.com/placed-by"},
        },
        policy("first", {"labels": {"a": "1"}}),
    )
    _, after = mutated(policies, pod())
    assert annotations_of(after) == {"example.com/placed-by": "first"}


def test_a_later_policy_setting_the_same_key_differently_loses_with_a_warning() -> None:
    policies = compiled(
        policy("keep-on", {"annotations": {SAFE: "false"}}, order=1),
        policy("let-go", {"annotations": {SAFE: "true"}, "labels": {"x": "y"}}, order=2),
    )
    result, after = mutated(policies, pod())
    assert annotations_of(after)[SAFE] == "false"
    assert labels_of(after) == {"x": "y"}
    assert result.applied == ["keep-on", "let-go"]
    assert result.warnings == [f"policy let-go: annotation {SAFE} kept from policy keep-on"]
