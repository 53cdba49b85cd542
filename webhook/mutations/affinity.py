"""Node affinity (required and preferred), nodeSelector mirroring and workflow podAffinity.

Merge rules: a required expression is ANDed into every nodeSelectorTerm the pod has (terms are
ORed, so adding it to only one would let the pod escape through another); preferred terms are
appended. An expression on a key the pod already constrains (in a term or its nodeSelector) is
not added: the pod's own choice wins, and the skip is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from webhook.mutations.keyed import Conflict
from webhook.pod import (
    Pod,
    labels_of,
    node_selector,
    preferred_node_terms,
    preferred_pod_affinity_terms,
    required_node_terms,
)
from webhook.policy.model import PreferredNodeTerm, WorkflowPodAffinity

Expression = dict[str, Any]


def _expressions(term: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = term.get("matchExpressions")
    return [e for e in found if isinstance(e, Mapping)] if isinstance(found, list) else []


def same_expression(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (
        a.get("key") == b.get("key")
        and a.get("operator") == b.get("operator")
        and sorted(map(str, a.get("values") or [])) == sorted(map(str, b.get("values") or []))
    )


def _accepts(expr: Mapping[str, Any], value: Any) -> bool:
    """Whether a node labelled key=value (from the pod's nodeSelector) satisfies `expr`."""
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    return op != "DoesNotExist"


def missing_required_expressions(
    pod: Pod, wanted: Iterable[Expression]
) -> tuple[list[Expression], list[Conflict]]:
    terms = required_node_terms(pod)
    selector = node_selector(pod)
    added: list[Expression] = []
    conflicts: list[Conflict] = []
    for expr in wanted:
        key = expr["key"]
        in_terms = [e for t in terms for e in _expressions(t) if e.get("key") == key]
        if terms and all(any(same_expression(expr, e) for e in _expressions(t)) for t in terms):
            continue
        clash = next((e for e in in_terms if not same_expression(expr, e)), None)
        if clash is not None:
            conflicts.append(Conflict("required node affinity", key, expr, dict(clash)))
            continue
        if key in selector and not _accepts(expr, selector[key]):
            conflicts.append(
                Conflict(
                    "required node affinity", key, expr, {"nodeSelector": {key: selector[key]}}
                )
            )
            continue
        if any(same_expression(expr, a) for a in added):
            continue
        added.append(expr)
    return added, conflicts


def mirrored_node_selector(pod: Pod) -> list[Expression]:
    """The pod's nodeSelector as required expressions: cluster-autoscaler setups that pick the
    node group from required nodeAffinity then see it (the nodeSelector itself stays)."""
    return [
        {"key": k, "operator": "In", "values": [v]}
        for k, v in node_selector(pod).items()
        if isinstance(v, str)
    ]


def missing_preferred_terms(pod: Pod, wanted: Sequence[PreferredNodeTerm]) -> list[Expression]:
    present = list(preferred_node_terms(pod))
    added: list[Expression] = []
    for term in wanted:
        k8s = term.as_k8s()
        if k8s not in present:
            present.append(k8s)
            added.append(k8s)
    return added


def workflow_pod_affinity_term(pod: Pod, rule: WorkflowPodAffinity) -> list[Expression]:
    """A preferred podAffinity term for pods sharing this pod's value of the first label key
    present; nothing when the pod has none of the keys (a static manifest cannot know it)."""
    pod_labels = labels_of(pod)
    key = next((k for k in rule.label_keys if isinstance(pod_labels.get(k), str)), None)
    if key is None:
        return []
    term = {
        "weight": rule.weight,
        "podAffinityTerm": {
            "labelSelector": {
                "matchExpressions": [{"key": key, "operator": "In", "values": [pod_labels[key]]}]
            },
            "topologyKey": rule.topology_key,
        },
    }
    return [] if term in preferred_pod_affinity_terms(pod) else [term]
