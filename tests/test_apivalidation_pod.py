"""kube-apiserver's Pod rules for what a policy can add (webhook.kube.validation), as tables.

Each row is a small piece of a Pod and the errors upstream reports for it, as `path: type`
(upstream's paths: a bad toleration value is reported at `operator`, a label error at the
map). Rows follow the rules in kubernetes `pkg/apis/core/validation/validation.go` named in
each table's comment.
"""

from __future__ import annotations

from typing import Any

import pytest

from webhook.kube.validation import (
    FieldError,
    dotted,
    validate_affinity,
    validate_annotations,
    validate_annotations_match_fields_on_create,
    validate_labels,
    validate_node_selector_requirement_for_scheduler,
    validate_pod_dns_config,
    validate_pod_specific_annotations,
    validate_tolerations,
    validate_topology_spread_constraints,
)


def summary(errors: list[FieldError]) -> list[str]:
    return [f"{dotted(e.path)}: {e.kind}" for e in errors]


# ValidateTolerations, validateTaintEffect.
TOLERATIONS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "Exists with a key and an effect": ({"key": "job", "operator": "Exists"}, []),
    "Equal with a label value": ({"key": "a", "operator": "Equal", "value": "b"}, []),
    "an empty operator means Equal": ({"key": "a", "value": "b"}, []),
    "Equal with a value that has a space": (
        {"key": "a", "operator": "Equal", "value": "on demand"},
        ["t[0].operator: Invalid value"],
    ),
    "Equal with a value ending in a newline": (
        {"key": "a", "operator": "Equal", "value": "spot\n"},
        ["t[0].operator: Invalid value"],
    ),
    "Exists with a value": (
        {"key": "a", "operator": "Exists", "value": "b"},
        ["t[0].operator: Invalid value"],
    ),
    "an empty key with Equal": ({"operator": "Equal"}, ["t[0].operator: Invalid value"]),
    "an empty key with Exists tolerates everything": ({"operator": "Exists"}, []),
    "a key ending in a newline": (
        {"key": "job\n", "operator": "Exists"},
        ["t[0].key: Invalid value"],
    ),
    "tolerationSeconds with NoExecute": (
        {"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
        [],
    ),
    "tolerationSeconds with no effect (NoExecute is required)": (
        {"key": "a", "operator": "Exists", "tolerationSeconds": 30},
        ["t[0].effect: Invalid value"],
    ),
    "tolerationSeconds with NoSchedule": (
        {"key": "a", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30},
        ["t[0].effect: Invalid value"],
    ),
    "tolerationSeconds at the largest int64": (
        {"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2**63 - 1},
        [],
    ),
    "tolerationSeconds beyond int64": (
        {"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2**63},
        ["t[0].tolerationSeconds: Invalid value"],
    ),
    "an unknown operator": ({"key": "a", "operator": "Gt"}, ["t[0].operator: Unsupported value"]),
    "an unknown effect": (
        {"key": "a", "operator": "Exists", "effect": "NoAdmit"},
        ["t[0].effect: Unsupported value"],
    ),
}


@pytest.mark.parametrize(("toleration", "expected"), TOLERATIONS.values(), ids=list(TOLERATIONS))
def test_tolerations(toleration: dict[str, Any], expected: list[str]) -> None:
    assert summary(validate_tolerations([toleration], ("t",))) == expected


def required(*expressions: dict[str, Any]) -> dict[str, Any]:
    terms = [{"matchExpressions": list(expressions)}]
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }


def preferred(weight: int, *expressions: dict[str, Any]) -> dict[str, Any]:
    term = {"weight": weight, "preference": {"matchExpressions": list(expressions)}}
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}}


R = "a.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
P = "a.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"

# ValidateNodeSelectorRequirement, ValidateNodeSelector, ValidatePreferredSchedulingTerms.
NODE_AFFINITY: dict[str, tuple[dict[str, Any], list[str]]] = {
    "In with label values": (required({"key": "k", "operator": "In", "values": ["a", "b"]}), []),
    "In with no values": (
        required({"key": "k", "operator": "In"}),
        [f"{R}.matchExpressions[0].values: Required value"],
    ),
    "In with a value holding a space": (
        required({"key": "k", "operator": "In", "values": ["m5.large m5.xlarge"]}),
        [f"{R}.matchExpressions[0].values[0]: Invalid value"],
    ),
    "Exists with values": (
        required({"key": "k", "operator": "Exists", "values": ["a"]}),
        [f"{R}.matchExpressions[0].values: Forbidden"],
    ),
    "Gt with one number": (required({"key": "k", "operator": "Gt", "values": ["3"]}), []),
    "Gt with two values": (
        required({"key": "k", "operator": "Gt", "values": ["1", "2"]}),
        [f"{R}.matchExpressions[0].values: Required value"],
    ),
    "Gt with -1 (not a label value)": (
        required({"key": "k", "operator": "Gt", "values": ["-1"]}),
        [f"{R}.matchExpressions[0].values[0]: Invalid value"],
    ),
    "an unknown operator": (
        required({"key": "k", "operator": "Like", "values": ["a"]}),
        [f"{R}.matchExpressions[0].operator: Invalid value"],
    ),
    "no node selector terms": (
        {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
        [
            "a.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: "
            "Required value"
        ],
    ),
    "a preferred term of weight 100": (preferred(100, {"key": "k", "operator": "Exists"}), []),
    "a preferred term of weight 0": (
        preferred(0, {"key": "k", "operator": "Exists"}),
        [f"{P}.weight: Invalid value"],
    ),
    "a preferred term of weight 101": (
        preferred(101, {"key": "k", "operator": "Exists"}),
        [f"{P}.weight: Invalid value"],
    ),
    "a preferred term with a bad value (the apiserver allows it)": (
        preferred(1, {"key": "k", "operator": "In", "values": ["m5.large m5.xlarge"]}),
        [],
    ),
    "a match field on the node name": (
        {
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
        },
        [],
    ),
}


@pytest.mark.parametrize(("affinity", "expected"), NODE_AFFINITY.values(), ids=list(NODE_AFFINITY))
def test_node_affinity(affinity: dict[str, Any], expected: list[str]) -> None:
    assert summary(validate_affinity(affinity, ("a",))) == expected


# labels.NewRequirement, as kube-scheduler reads node affinity.
SCHEDULER: dict[str, tuple[dict[str, Any], list[str]]] = {
    "Gt with a number": ({"key": "k", "operator": "Gt", "values": ["10"]}, []),
    "Lt with a number of leading zeros": ({"key": "k", "operator": "Lt", "values": ["007"]}, []),
    "Gt with a superscript two": (
        {"key": "k", "operator": "Gt", "values": ["²"]},
        ["r.values[0]: Invalid value", "r.values[0]: Invalid value"],
    ),
    "Gt with two minus signs": (
        {"key": "k", "operator": "Gt", "values": ["--5"]},
        ["r.values[0]: Invalid value", "r.values[0]: Invalid value"],
    ),
    "Gt beyond int64": (
        {"key": "k", "operator": "Gt", "values": ["9223372036854775808"]},
        ["r.values[0]: Invalid value"],
    ),
    "In with a value the apiserver allows in a preferred term": (
        {"key": "k", "operator": "In", "values": ["a b"]},
        ["r.values[0]: Invalid value"],
    ),
}


@pytest.mark.parametrize(("requirement", "expected"), SCHEDULER.values(), ids=list(SCHEDULER))
def test_what_the_scheduler_needs_to_read_a_requirement(
    requirement: dict[str, Any], expected: list[str]
) -> None:
    assert (
        summary(validate_node_selector_requirement_for_scheduler(requirement, ("r",))) == expected
    )


def weighted(weight: int, term: dict[str, Any]) -> dict[str, Any]:
    return {
        "podAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": weight, "podAffinityTerm": term}
            ]
        }
    }


W = "a.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
SELECTOR = {"matchExpressions": [{"key": "wf", "operator": "In", "values": ["nightly"]}]}

# validatePodAffinityTerm, validateWeightedPodAffinityTerms, ValidateLabelSelector.
POD_AFFINITY: dict[str, tuple[dict[str, Any], list[str]]] = {
    "a hostname topology and a selector": (
        weighted(100, {"labelSelector": SELECTOR, "topologyKey": "kubernetes.io/hostname"}),
        [],
    ),
    "weight 0": (
        weighted(0, {"labelSelector": SELECTOR, "topologyKey": "zone"}),
        [f"{W}.weight: Invalid value"],
    ),
    "no topology key": (
        weighted(1, {"labelSelector": SELECTOR}),
        [
            f"{W}.podAffinityTerm.topologyKey: Required value",
            f"{W}.podAffinityTerm.topologyKey: Invalid value",
            f"{W}.podAffinityTerm.topologyKey: Invalid value",
        ],
    ),
    "a topology key ending in a newline": (
        weighted(1, {"labelSelector": SELECTOR, "topologyKey": "zone\n"}),
        [f"{W}.podAffinityTerm.topologyKey: Invalid value"],
    ),
    "a selector value that is not a label value": (
        weighted(
            1,
            {
                "labelSelector": {
                    "matchExpressions": [{"key": "wf", "operator": "In", "values": ["a b"]}]
                },
                "topologyKey": "zone",
            },
        ),
        [f"{W}.podAffinityTerm.labelSelector.matchExpressions[0].values[0]: Invalid value"],
    ),
    "matchLabelKeys without a selector": (
        weighted(1, {"matchLabelKeys": ["wf"], "topologyKey": "zone"}),
        [f"{W}.podAffinityTerm.matchLabelKeys: Forbidden"],
    ),
}


@pytest.mark.parametrize(("affinity", "expected"), POD_AFFINITY.values(), ids=list(POD_AFFINITY))
def test_pod_affinity(affinity: dict[str, Any], expected: list[str]) -> None:
    assert summary(validate_affinity(affinity, ("a",))) == expected


# validatePodDNSConfig.
DNS: dict[str, tuple[dict[str, Any] | None, str, list[str]]] = {
    "an ndots option": ({"options": [{"name": "ndots", "value": "1"}]}, "ClusterFirst", []),
    "an option without a name": (
        {"options": [{"value": "1"}]},
        "ClusterFirst",
        ["d.options[0]: Required value"],
    ),
    "any number of options, any value": (
        {"options": [{"name": f"o{i}", "value": "x y"} for i in range(40)]},
        "ClusterFirst",
        [],
    ),
    "policy None without a config": (None, "None", ["d: Required value"]),
    "policy None without nameservers": ({"options": []}, "None", ["d.nameservers: Required value"]),
    "four nameservers": (
        {"nameservers": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]},
        "None",
        ["d.nameservers: Invalid value"],
    ),
    "a nameserver that is not an IP": (
        {"nameservers": ["dns.local"]},
        "None",
        ["d.nameservers[0]: Invalid value"],
    ),
    "a search path with an underscore": ({"searches": ["_srv.example.com."]}, "ClusterFirst", []),
    "a search path with a space": (
        {"searches": ["a b"]},
        "ClusterFirst",
        ["d.searches[0]: Invalid value"],
    ),
}


@pytest.mark.parametrize(("config", "policy", "expected"), DNS.values(), ids=list(DNS))
def test_dns_config(config: dict[str, Any] | None, policy: str, expected: list[str]) -> None:
    assert summary(validate_pod_dns_config(config, policy, ("d",))) == expected


def spread(**fields: Any) -> dict[str, Any]:
    return {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", **fields}


# validateTopologySpreadConstraints.
SPREAD: dict[str, tuple[list[dict[str, Any]], list[str]]] = {
    "one constraint": ([spread(labelSelector=SELECTOR)], []),
    "maxSkew 0": ([spread(maxSkew=0)], ["s[0].maxSkew: Invalid value"]),
    "maxSkew beyond int32": ([spread(maxSkew=2**31)], ["s[0].maxSkew: Invalid value"]),
    "no topology key": ([spread(topologyKey="")], ["s[0].topologyKey: Required value"]),
    "an unknown action": (
        [spread(whenUnsatisfiable="Maybe")],
        ["s[0].whenUnsatisfiable: Unsupported value"],
    ),
    "the same key and action twice": (
        [spread(), spread(maxSkew=2)],
        ["s[0].{topologyKey, whenUnsatisfiable}: Duplicate value"],
    ),
    "minDomains with ScheduleAnyway": (
        [spread(whenUnsatisfiable="ScheduleAnyway", minDomains=2)],
        ["s[0].minDomains: Invalid value"],
    ),
    "minDomains 0": ([spread(minDomains=0)], ["s[0].minDomains: Invalid value"]),
    "an unknown node taints policy": (
        [spread(nodeTaintsPolicy="Always")],
        ["s[0].nodeTaintsPolicy: Unsupported value"],
    ),
    "matchLabelKeys also in the selector": (
        [spread(labelSelector=SELECTOR, matchLabelKeys=["wf"])],
        ["s[0].matchLabelKeys[0]: Invalid value"],
    ),
}


@pytest.mark.parametrize(("constraints", "expected"), SPREAD.values(), ids=list(SPREAD))
def test_topology_spread_constraints(
    constraints: list[dict[str, Any]], expected: list[str]
) -> None:
    assert summary(validate_topology_spread_constraints(constraints, ("s",))) == expected


# ValidateLabels, ValidateAnnotations (objectmeta.go).
META: dict[str, tuple[dict[str, str], dict[str, str], list[str]]] = {
    "a label and an annotation": ({"team": "ml"}, {"example.com/x": "any text\n at all"}, []),
    "a label value with a newline": ({"team": "ml\n"}, {}, ["labels: Invalid value"]),
    "an uppercase annotation prefix (case does not matter)": ({}, {"Example.com/x": "1"}, []),
    "an uppercase label prefix": ({"Example.com/x": "1"}, {}, ["labels: Invalid value"]),
    "an annotation key ending in a newline": (
        {},
        {"example.com/x\n": "1"},
        ["annotations: Invalid value"],
    ),
    "annotations of exactly 256 KiB": ({}, {"k": "v" * (256 * 1024 - 1)}, []),
    "annotations one byte over 256 KiB": ({}, {"k": "v" * (256 * 1024)}, ["annotations: Too long"]),
    "annotations over 256 KiB counted in bytes": (
        {},
        {"k": "é" * (128 * 1024)},
        ["annotations: Too long"],
    ),
}


@pytest.mark.parametrize(("labels", "annotations", "expected"), META.values(), ids=list(META))
def test_labels_and_annotations(
    labels: dict[str, str], annotations: dict[str, str], expected: list[str]
) -> None:
    errors = validate_labels(labels, ("labels",)) + validate_annotations(
        annotations, ("annotations",)
    )
    assert summary(errors) == expected


CONTAINERS = {"containers": [{"name": "main"}]}
# ValidatePodSpecificAnnotations.
POD_ANNOTATIONS: dict[str, tuple[dict[str, str], dict[str, Any], list[str]]] = {
    "a mirror pod annotation without a node": (
        {"kubernetes.io/config.mirror": "x"},
        CONTAINERS,
        ["m[kubernetes.io/config.mirror]: Invalid value"],
    ),
    "a mirror pod annotation on a bound pod": (
        {"kubernetes.io/config.mirror": "x"},
        {**CONTAINERS, "nodeName": "n1"},
        [],
    ),
    "a pod-deletion-cost that is an int32": (
        {"controller.kubernetes.io/pod-deletion-cost": "-5"},
        {},
        [],
    ),
    "a pod-deletion-cost with a plus sign": (
        {"controller.kubernetes.io/pod-deletion-cost": "+5"},
        {},
        ["m[controller.kubernetes.io/pod-deletion-cost]: Invalid value"],
    ),
    "a pod-deletion-cost with a leading zero": (
        {"controller.kubernetes.io/pod-deletion-cost": "08"},
        {},
        ["m[controller.kubernetes.io/pod-deletion-cost]: Invalid value"],
    ),
    "a pod-deletion-cost beyond int32": (
        {"controller.kubernetes.io/pod-deletion-cost": "2147483648"},
        {},
        ["m[controller.kubernetes.io/pod-deletion-cost]: Invalid value"],
    ),
    "a tolerations annotation that is not JSON": (
        {"scheduler.alpha.kubernetes.io/tolerations": "key=a"},
        {},
        ["m: Invalid value"],
    ),
    "a tolerations annotation with a bad toleration": (
        {"scheduler.alpha.kubernetes.io/tolerations": '[{"Key": "a", "value": "x y"}]'},
        {},
        ["m.scheduler.alpha.kubernetes.io/tolerations[0].operator: Invalid value"],
    ),
    "a seccomp profile that is not one": (
        {"seccomp.security.alpha.kubernetes.io/pod": "strict"},
        {},
        ["m.seccomp.security.alpha.kubernetes.io/pod: Invalid value"],
    ),
    "a seccomp localhost profile climbing out": (
        {"container.seccomp.security.alpha.kubernetes.io/main": "localhost/../x"},
        CONTAINERS,
        ["m.container.seccomp.security.alpha.kubernetes.io/main: Invalid value"],
    ),
    "an AppArmor annotation for a missing container": (
        {"container.apparmor.security.beta.kubernetes.io/other": "runtime/default"},
        CONTAINERS,
        ["m[container.apparmor.security.beta.kubernetes.io/other]: Invalid value"],
    ),
    "an AppArmor profile that is not one": (
        {"container.apparmor.security.beta.kubernetes.io/main": "strict"},
        CONTAINERS,
        ["m[container.apparmor.security.beta.kubernetes.io/main]: Invalid value"],
    ),
}


@pytest.mark.parametrize(
    ("annotations", "spec", "expected"), POD_ANNOTATIONS.values(), ids=list(POD_ANNOTATIONS)
)
def test_pod_specific_annotations(
    annotations: dict[str, str], spec: dict[str, Any], expected: list[str]
) -> None:
    assert summary(validate_pod_specific_annotations(annotations, spec, ("m",))) == expected


def test_seccomp_and_apparmor_annotations_must_agree_with_the_fields_on_create() -> None:
    spec = {
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {"name": "main", "securityContext": {"appArmorProfile": {"type": "Unconfined"}}}
        ],
    }
    agreeing = {
        "seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
        "container.apparmor.security.beta.kubernetes.io/main": "unconfined",
    }
    assert validate_annotations_match_fields_on_create(agreeing, spec, ("spec",)) == []
    disagreeing = {
        "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
        "container.apparmor.security.beta.kubernetes.io/main": "runtime/default",
    }
    assert summary(validate_annotations_match_fields_on_create(disagreeing, spec, ("spec",))) == [
        "spec.securityContext.seccompProfile.type: Forbidden",
        "spec.containers[0].securityContext.appArmorProfile.type: Forbidden",
    ]
