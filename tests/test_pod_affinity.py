"""Workflow-scoped podAffinity: a preferred term whose selector is the value of the pod's own
label (the Argo workflow name, the Kubeflow run id), so one run packs onto few nodes. The first
label key present wins; a pod with none of the keys gets nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import compiled, mutated, pod, policy, preferred_pod_affinity_of

RUN_ID = "pipeline/runid"
WORKFLOW = "workflows.argoproj.io/workflow"


def pack(**rule: Any) -> Any:
    return compiled(
        policy("pack", {"workflowPodAffinity": {"labelKeys": [RUN_ID, WORKFLOW], **rule}})
    )


def term(
    key: str, value: str, weight: int = 100, topology: str = "kubernetes.io/hostname"
) -> dict[str, Any]:
    return {
        "weight": weight,
        "podAffinityTerm": {
            "labelSelector": {
                "matchExpressions": [{"key": key, "operator": "In", "values": [value]}]
            },
            "topologyKey": topology,
        },
    }


ROWS = {
    "an Argo pod is scoped to its workflow": (
        {},
        pod(labels={WORKFLOW: "wf-1"}),
        [term(WORKFLOW, "wf-1")],
    ),
    "the first key present wins: a KFP pod is scoped to its run": (
        {},
        pod(labels={WORKFLOW: "wf-1", RUN_ID: "run-9"}),
        [term(RUN_ID, "run-9")],
    ),
    "a pod without any of the labels gets nothing": ({}, pod(labels={"app": "x"}), []),
    "a pod without labels gets nothing": ({}, pod(), []),
    "weight and topologyKey come from the policy": (
        {"weight": 3, "topologyKey": "topology.kubernetes.io/zone"},
        pod(labels={WORKFLOW: "wf-1"}),
        [term(WORKFLOW, "wf-1", 3, "topology.kubernetes.io/zone")],
    ),
    "the pod's own preferred podAffinity terms stay first": (
        {},
        pod(
            labels={WORKFLOW: "wf-1"},
            affinity={
                "podAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [term("app", "cache", 7)]
                }
            },
        ),
        [term("app", "cache", 7), term(WORKFLOW, "wf-1")],
    ),
    "an equal term already there is not added again": (
        {},
        pod(
            labels={WORKFLOW: "wf-1"},
            affinity={
                "podAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [term(WORKFLOW, "wf-1")]
                }
            },
        ),
        [term(WORKFLOW, "wf-1")],
    ),
}


@pytest.mark.parametrize(("rule", "before", "expected"), list(ROWS.values()), ids=list(ROWS))
def test_workflow_pod_affinity(rule: dict[str, Any], before: Any, expected: Any) -> None:
    _, after = mutated(pack(**rule), before)
    assert preferred_pod_affinity_of(after) == expected


def test_required_pod_affinity_and_node_affinity_stay() -> None:
    required = [
        {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}
    ]
    node = {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}
        ]
    }
    before = pod(
        labels={WORKFLOW: "wf-1"},
        affinity={
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required},
            "nodeAffinity": node,
        },
    )
    _, after = mutated(pack(), before)
    affinity = after["spec"]["affinity"]
    assert affinity["nodeAffinity"] == node
    assert affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == required
    assert preferred_pod_affinity_of(after) == [term(WORKFLOW, "wf-1")]
