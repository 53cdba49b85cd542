"""The engine across policies: placement opt-outs, order, conflicts, audit mode, a policy that
fails on a pod, and the candidate index (which must never change a result)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.pods import (
    ARGO_LABELS,
    DAEMONSET,
    JOB,
    MIRROR_ANNOTATIONS,
    NODE,
    PROVENANCE,
    STATEFULSET,
    WORKFLOW,
    annotations_of,
    compiled,
    container,
    dns_options_of,
    expr,
    gpu,
    labels_of,
    mutated,
    plain,
    pod,
    policy,
    preferred_node_of,
    preferred_pod_affinity_of,
    required_terms,
    required_terms_of,
    settings,
    toleration,
    tolerations_of,
)
from webhook.engine import Result, mutate

GPU_TOLERATION = toleration("nvidia.com/gpu", "Exists", "NoSchedule")
SPOT = toleration("job", "Exists", "NoSchedule")
G1 = expr("ng-name", "In", "g1")

EVERYTHING = policy(
    "everything",
    {
        "extendedResourceTolerations": {},
        "tolerations": [SPOT],
        "nodeAffinity": {"required": [G1], "preferred": [{"weight": 1, "matchExpressions": [G1]}]},
        "workflowPodAffinity": {"labelKeys": ["workflows.argoproj.io/workflow"]},
        "dnsConfig": {"options": [{"name": "ndots", "value": "1"}]},
        "labels": {"placed": "yes"},
    },
)
PINNED = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}
            ]
        }
    }
}


ON_HOST = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}
                    ]
                }
            ]
        }
    }
}
# A backup agent that must run where its PostgreSQL runs.
NEXT_TO_DATABASE = {
    "podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "postgresql"}},
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    }
}


def notes(result: Result) -> list[str]:
    return [n for o in result.outcomes for n in o.notes]


OPT_OUTS = {
    "a DaemonSet pod (its controller pins it to one node)": (
        pod(gpu(), labels=ARGO_LABELS, owners=[DAEMONSET], affinity=PINNED),
        "default",
        "a DaemonSet or static pod: placement is never added",
    ),
    "a mirror pod": (
        pod(gpu(), labels=ARGO_LABELS, owners=[NODE], annotations=MIRROR_ANNOTATIONS),
        "default",
        "a DaemonSet or static pod: placement is never added",
    ),
    "a mirror pod known by its annotation alone": (
        pod(gpu(), labels=ARGO_LABELS, annotations=MIRROR_ANNOTATIONS),
        "default",
        "a DaemonSet or static pod: placement is never added",
    ),
    "a pod already bound with nodeName": (
        pod(gpu(), labels=ARGO_LABELS, nodeName="node-1"),
        "default",
        "bound by nodeName: placement is never added",
    ),
    "a pod in kube-system": (
        pod(gpu(), labels=ARGO_LABELS),
        "kube-system",
        "namespace 'kube-system' is excluded from placement",
    ),
}


@pytest.mark.parametrize(
    ("subject", "namespace", "note"),
    list(OPT_OUTS.values()),
    ids=[f"{k} gets no placement" for k in OPT_OUTS],
)
def test_placement_opt_outs(subject: dict[str, Any], namespace: str, note: str) -> None:
    result, after = mutated(compiled(EVERYTHING), subject, namespace)
    # Like upstream ExtendedResourceToleration: every pod gets it.
    assert tolerations_of(after) == [GPU_TOLERATION]
    assert after["spec"].get("affinity") == subject["spec"].get("affinity")
    # dnsConfig and labels are not placement.
    assert dns_options_of(after) == [{"name": "ndots", "value": "1"}]
    assert labels_of(after)["placed"] == "yes"
    assert notes(result) == [note]


BOUND = {
    "a pod of no DaemonSet pinned by matchFields metadata.name": (
        pod(gpu(), labels=ARGO_LABELS, affinity=PINNED),
        "default",
        "pinned to a node by matchFields: nothing that chooses nodes is added",
    ),
    "a pod pinned by a required kubernetes.io/hostname term": (
        pod(gpu(), labels=ARGO_LABELS, affinity=ON_HOST),
        "default",
        "pinned to a node by required affinity on kubernetes.io/hostname: "
        "nothing that chooses nodes is added",
    ),
    "a pod pinned by a kubernetes.io/hostname nodeSelector": (
        pod(gpu(), labels=ARGO_LABELS, node_selector={"kubernetes.io/hostname": "node-1"}),
        "default",
        "pinned to a node by nodeSelector kubernetes.io/hostname: "
        "nothing that chooses nodes is added",
    ),
    "a pod bound to a database by required podAffinity": (
        pod(gpu(), labels=ARGO_LABELS, affinity=NEXT_TO_DATABASE),
        "default",
        "bound to other pods by required podAffinity: nothing that chooses nodes is added",
    ),
}


@pytest.mark.parametrize(
    ("subject", "namespace", "note"), list(BOUND.values()), ids=[f"{k}" for k in BOUND]
)
def test_pods_bound_to_a_node_or_a_peer_get_nothing_that_chooses_nodes(
    subject: dict[str, Any], namespace: str, note: str
) -> None:
    """A pool requirement would contradict the node or the peer the pod names: no
    tolerations, node affinity or spread constraints; what chooses no node still applies."""
    result, after = mutated(compiled(EVERYTHING), subject, namespace)
    assert tolerations_of(after) == [GPU_TOLERATION]
    assert after["spec"]["affinity"].get("nodeAffinity") == subject["spec"].get("affinity", {}).get(
        "nodeAffinity"
    )
    assert "topologySpreadConstraints" not in after["spec"]
    assert dns_options_of(after) == [{"name": "ndots", "value": "1"}]
    assert labels_of(after)["placed"] == "yes"
    assert notes(result) == [note]


def test_placement_excluded_namespaces_come_from_the_settings() -> None:
    policies = compiled(settings(placementExcludedNamespaces=["infra-*"]), EVERYTHING)
    _, infra = mutated(policies, pod(gpu()), "infra-monitoring")
    assert tolerations_of(infra) == [GPU_TOLERATION]
    assert required_terms_of(infra) == []
    # The settings replace the default list: kube-system is now placed like any namespace.
    _, system = mutated(policies, pod(gpu()), "kube-system")
    assert required_terms_of(system) == [[G1]]


def test_a_pod_like_any_other_gets_everything() -> None:
    _, after = mutated(compiled(EVERYTHING), pod(gpu(), labels=ARGO_LABELS), "ml")
    assert tolerations_of(after) == [GPU_TOLERATION, SPOT]
    assert required_terms_of(after) == [[G1]]
    assert preferred_node_of(after) == [{"weight": 1, "preference": {"matchExpressions": [G1]}}]
    assert len(preferred_pod_affinity_of(after)) == 1


def test_policies_run_by_order_then_name_and_each_sees_the_one_before() -> None:
    policies = compiled(
        policy("zz-route-first", {"nodeAffinity": {"required": [G1]}}, order=1),
        policy(
            "b-default",
            {"nodeAffinity": {"required": [expr("ng-name", "In", "default")]}},
            match={"placement": "none"},
            order=5,
        ),
        policy("a-label", {"labels": {"a": "1"}}, order=5),
    )
    result, after = mutated(policies, pod())
    assert [o.name for o in result.outcomes] == ["zz-route-first", "a-label"]
    assert result.applied == ["zz-route-first", "a-label"]
    assert required_terms_of(after) == [[G1]]
    assert annotations_of(after)[PROVENANCE] == "zz-route-first,a-label"


def test_two_policies_routing_differently_the_first_wins_and_the_second_is_warned() -> None:
    policies = compiled(
        policy(
            "on-demand",
            {"nodeAffinity": {"required": [expr("ng-name", "In", "ondemand")]}},
            order=1,
        ),
        policy("spot", {"tolerations": [SPOT], "nodeAffinity": {"required": [G1]}}, order=2),
    )
    result, after = mutated(policies, pod())
    assert required_terms_of(after) == [[expr("ng-name", "In", "ondemand")]]
    # What does not conflict is still added.
    assert tolerations_of(after) == [SPOT]
    assert result.warnings == [
        "policy spot: required node affinity ng-name kept from policy on-demand"
    ]
    assert "required node affinity ng-name: policy on-demand set it first" in notes(result)


def test_a_pods_own_value_is_a_note_not_a_warning() -> None:
    policies = compiled(policy("route", {"nodeAffinity": {"required": [G1]}}))
    result, _ = mutated(policies, pod(affinity=required_terms([expr("ng-name", "In", "x")])))
    assert result.warnings == []
    assert notes(result) == ["required node affinity ng-name: the pod's own value kept"]


def test_audit_mode_changes_nothing_and_reports_what_it_would_add() -> None:
    policies = compiled(
        policy(
            "try-spot",
            {"tolerations": [SPOT], "nodeAffinity": {"required": [G1]}},
            mode="audit",
            order=1,
        ),
        policy("label", {"labels": {"a": "1"}}, order=2, match={"placement": "none"}),
    )
    result, after = mutated(policies, pod())
    assert result.audited == ["try-spot"]
    assert result.applied == ["label"]
    assert result.warnings == [
        "policy try-spot (audit) would add: tolerations, nodeAffinity.required"
    ]
    assert tolerations_of(after) == []
    assert required_terms_of(after) == []
    # The next policy saw the pod as the audit policy left it: with no placement.
    assert labels_of(after) == {"a": "1"}
    assert annotations_of(after) == {PROVENANCE: "label"}


def test_audit_only_gives_no_patch_at_all() -> None:
    policies = compiled(policy("try", {"labels": {"a": "1"}}, mode="audit"))
    result, after = mutated(policies, pod())
    assert result.ops == []
    assert result.audited == ["try"]
    assert after == plain(pod())


def test_a_policy_failing_on_a_pod_is_skipped_and_the_others_still_apply() -> None:
    # A pod whose tolerations are not a list cannot be appended to; the apiserver would reject
    # it anyway, but the webhook must not fail the request.
    broken = pod(gpu(), tolerations=None)
    broken["spec"]["tolerations"] = "not-a-list"
    policies = compiled(
        policy("gpu", {"extendedResourceTolerations": {}}, order=1),
        policy("label", {"labels": {"a": "1"}}, order=2),
    )
    result = mutate(policies, broken, "default")
    assert result.applied == ["label"]
    assert result.warnings == ["policy gpu skipped: internal error"]
    assert result.errors and result.errors[0].startswith("policy gpu: PatchError")
    assert [op["path"] for op in result.ops] == ["/metadata/labels", "/metadata/annotations"]


def test_the_provenance_annotation_keeps_names_listed_before() -> None:
    policies = compiled(policy("label", {"labels": {"a": "1"}}))
    result, after = mutated(policies, pod(annotations={PROVENANCE: "earlier"}))
    assert annotations_of(after)[PROVENANCE] == "earlier,label"
    assert result.applied == ["label"]


# --- the candidate index --------------------------------------------------------------------

INDEXED = [
    policy("by-namespace", {"labels": {"ns": "ml"}}, match={"namespaces": ["ml", "ml-b"]}, order=1),
    policy(
        "by-namespace-twice",
        {"annotations": {"twice": "yes"}},
        mode="audit",
        match={"namespaces": ["ml", "ml"]},
        order=2,
    ),
    policy("by-glob", {"labels": {"glob": "yes"}}, match={"namespaces": ["ml-*"]}, order=3),
    policy(
        "by-match-labels",
        {"tolerations": [SPOT]},
        match={"podSelector": {"matchLabels": {"team": "vision", "tier": "batch"}}},
        order=4,
    ),
    policy(
        "by-in",
        {"annotations": {"in": "yes"}},
        match={
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["batch"]}]
            }
        },
        order=5,
    ),
    policy(
        "by-exists",
        {"annotations": {"exists": "yes"}},
        match={"podSelector": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}},
        order=6,
    ),
    policy(
        "by-not-in",
        {"annotations": {"not-in": "yes"}},
        match={
            "podSelector": {
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["batch"]}]
            }
        },
        order=7,
    ),
    policy(
        "adds-a-label",
        {"labels": {"stage": "two"}},
        match={"workloads": ["job", "argo-workflow"]},
        order=8,
    ),
    policy(
        "keyed-on-an-added-label",
        {"nodeAffinity": {"required": [G1]}},
        match={"podSelector": {"matchLabels": {"stage": "two"}}},
        order=9,
    ),
    policy("conflicting", {"labels": {"ns": "other"}}, match={"namespaces": ["ml"]}, order=10),
    policy("gpu-everywhere", {"extendedResourceTolerations": {}}, order=0),
    policy(
        "default-route",
        {"nodeAffinity": {"required": [expr("ng-name", "In", "default")]}},
        match={"placement": "none", "extendedResources": False},
        order=100,
    ),
]

NAMESPACES = ["ml", "ml-b", "web", "kube-system"]
LABEL_SETS = [
    {},
    {"team": "vision", "tier": "batch"},
    {"team": "vision"},
    {"tier": "web", "gpu": ""},
    {"stage": "one"},
    ARGO_LABELS,
]
SHAPES = [
    pod(),
    pod(gpu()),
    pod(owners=[JOB]),
    pod(owners=[STATEFULSET], node_selector={"ng-name": "ondemand"}),
    pod(container(requests={"cpu": "1"}), owners=[WORKFLOW]),
]


def _with_labels(shape: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    built = plain(shape)
    if labels:
        built["metadata"]["labels"] = dict(labels)
    return built


def test_the_index_never_changes_a_result() -> None:
    policies = compiled(*INDEXED)
    seen = 0
    for namespace, labels, shape in itertools.product(NAMESPACES, LABEL_SETS, SHAPES):
        subject = _with_labels(shape, labels)
        fast = mutate(policies, subject, namespace)
        full = mutate(policies, subject, namespace, explain=True)
        assert (fast.ops, fast.applied, fast.warnings, fast.audited) == (
            full.ops,
            full.applied,
            full.warnings,
            full.audited,
        ), (namespace, labels, shape)
        matched = [o.name for o in full.outcomes if o.matched]
        assert [o.name for o in fast.outcomes] == matched
        seen += 1
    assert seen == len(NAMESPACES) * len(LABEL_SETS) * len(SHAPES)


def test_the_index_skips_policies_that_cannot_match() -> None:
    policies = compiled(*INDEXED)
    candidates = [p.name for p in policies.candidates("web", {"app": "x"})]
    assert "by-namespace" not in candidates
    assert "by-match-labels" not in candidates
    assert "keyed-on-an-added-label" in candidates
    # Candidates come once each, in policy order, whichever index found them.
    found = policies.candidates("ml", {"team": "vision", "tier": "batch"})
    positions = [p.position for p in found]
    assert positions == sorted(set(positions))
    assert {"by-namespace", "by-namespace-twice", "by-match-labels"} <= {p.name for p in found}
