"""A reference for the core placement rules, written from the Kubernetes semantics and the
documented policy rules, not from the engine: plain code that is obviously right, for tests to
hold the engine against.

- LabelSelector: every matchLabels pair and every expression must hold; NotIn and DoesNotExist
  hold when the key is absent (`k8s.io/apimachinery/pkg/labels/selector.go`).
- A policy applies when its match selector holds and none of its exclude selectors does.
- Required node affinity: nodeSelectorTerms are ORed and the expressions of a term ANDed, so a
  required expression goes into every term, or the pod could schedule through a term without
  it; a pod with no terms gets one term holding it. Placement is never added to a pod bound
  to a node (nodeName, a mirror pod, a DaemonSet's pod) nor in an excluded namespace, and an
  expression on a key the pod constrains otherwise is not added (docs/policies.md).
- ExtendedResourceToleration (`plugin/pkg/admission/extendedresourcetoleration`, see
  shared reference): one `{key: R, operator: Exists, effect: NoSchedule}` per distinct
  extended resource R a container or init container requests, in byte order, appended unless
  a toleration equal in key, operator, value and effect is there.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

Doc = dict[str, Any]

# --- label selectors -----------------------------------------------------------------------


def requirement_holds(labels: Mapping[str, str], requirement: Mapping[str, Any]) -> bool:
    key, operator = requirement["key"], requirement["operator"]
    values = requirement.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f"not a label selector operator: {operator}")


def selector_holds(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    pairs = [
        {"key": k, "operator": "In", "values": [v]}
        for k, v in selector.get("matchLabels", {}).items()
    ]
    expressions = pairs + list(selector.get("matchExpressions", []))
    return all(requirement_holds(labels, e) for e in expressions)


def match_holds(match: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """A policy's match (or one exclude entry), for the clauses used with this reference."""
    metadata = pod.get("metadata") or {}
    if "podSelector" in match and not selector_holds(
        match["podSelector"], metadata.get("labels") or {}
    ):
        return False
    annotations = metadata.get("annotations") or {}
    return "annotationSelector" not in match or selector_holds(
        match["annotationSelector"], annotations
    )


def policy_applies(spec: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    return match_holds(spec.get("match", {}), pod) and not any(
        match_holds(exclude, pod) for exclude in spec.get("exclude", [])
    )


# --- required node affinity ----------------------------------------------------------------


def equivalent(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two node selector requirements that select the same nodes: key, operator, value set."""
    return (a["key"], a["operator"], set(a.get("values") or [])) == (
        b["key"],
        b["operator"],
        set(b.get("values") or []),
    )


def pinned(pod: Mapping[str, Any]) -> bool:
    """No node choice may be added: the pod is a DaemonSet's or a static one, bound, pinned
    to one node (matchFields, kubernetes.io/hostname) or to its peers (required podAffinity)."""
    metadata, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    owners = [o for o in metadata.get("ownerReferences") or [] if o.get("controller")]
    affinity = spec.get("affinity") or {}
    required = (affinity.get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]
    on_host = any(
        t.get("matchFields")
        or any(e.get("key") == "kubernetes.io/hostname" for e in t.get("matchExpressions") or [])
        for t in terms
    )
    return (
        bool(spec.get("nodeName"))
        or "kubernetes.io/config.mirror" in (metadata.get("annotations") or {})
        or any(o["kind"] in ("DaemonSet", "Node") for o in owners)
        or "kubernetes.io/hostname" in (spec.get("nodeSelector") or {})
        or on_host
        or bool(
            (affinity.get("podAffinity") or {}).get(
                "requiredDuringSchedulingIgnoredDuringExecution"
            )
        )
    )


def required_terms(pod: Mapping[str, Any]) -> list[Doc] | None:
    node_affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    return None if required is None else required["nodeSelectorTerms"]


def with_required(pod: Mapping[str, Any], expression: Mapping[str, Any]) -> Doc | None:
    """The pod with `expression` in every nodeSelectorTerm, or None when the pod constrains
    the key otherwise (its nodeSelector value or a term's expression disagrees)."""
    key = expression["key"]
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    if key in selector and not requirement_holds(selector, expression):
        return None
    terms = required_terms(pod) or []
    for term in terms:
        for own in term.get("matchExpressions") or []:
            if own["key"] == key and not equivalent(own, expression):
                return None
    out = copy.deepcopy(dict(pod))
    if not terms:
        affinity = out["spec"].setdefault("affinity", {})
        node_affinity = affinity.setdefault("nodeAffinity", {})
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": [dict(expression)]}]
        }
        return out
    for term in required_terms(out) or []:
        if not any(equivalent(own, expression) for own in term.get("matchExpressions") or []):
            term.setdefault("matchExpressions", []).append(dict(expression))
    return out


# --- extended-resource tolerations ---------------------------------------------------------

_SUBDOMAIN_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"{_SUBDOMAIN_LABEL}(\.{_SUBDOMAIN_LABEL})*")
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def is_extended(name: str) -> bool:
    native = "/" not in name or "kubernetes.io/" in name
    if native or name.startswith("requests."):
        return False
    prefix, _, part = f"requests.{name}".partition("/")
    return (
        "/" not in part
        and len(prefix) <= 253
        and _SUBDOMAIN.fullmatch(prefix) is not None
        and 1 <= len(part) <= 63
        and _NAME.fullmatch(part) is not None
    )


def requested(pod: Mapping[str, Any]) -> set[str]:
    """Resource names the containers and init containers request, as the pod is after
    defaulting (which copies every limit into requests)."""
    spec = pod.get("spec") or {}
    names: set[str] = set()
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        resources = container.get("resources") or {}
        names |= set(resources.get("requests") or {}) | set(resources.get("limits") or {})
    return names


def same_toleration(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    fields = ("key", "operator", "value", "effect")
    return all(a.get(f, "") == b.get(f, "") for f in fields)


def with_extended_resource_tolerations(pod: Mapping[str, Any]) -> Doc:
    out = copy.deepcopy(dict(pod))
    tolerations: list[Doc] = list(out["spec"].get("tolerations") or [])
    added = False
    for name in sorted((n for n in requested(pod) if is_extended(n)), key=str.encode):
        wanted = {"key": name, "operator": "Exists", "effect": "NoSchedule"}
        if not any(same_toleration(wanted, t) for t in tolerations):
            tolerations.append(wanted)
            added = True
    if added:
        out["spec"]["tolerations"] = tolerations
    return out


# --- the policy set the comparisons use ------------------------------------------------------

ZONE = {"key": "example.com/zone", "operator": "In", "values": ["a", "b"]}
ZONE_POLICY: Doc = {
    "match": {
        "podSelector": {
            "matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["system", "batch"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ]
        }
    },
    "exclude": [
        {"podSelector": {"matchLabels": {"team": "infra"}}},
        {
            "annotationSelector": {
                "matchExpressions": [{"key": "example.com/pinned", "operator": "Exists"}]
            }
        },
    ],
}
# The same two policies as documents, for the engine: the upstream rule, then the zone.
POLICIES: list[Doc] = [
    {"name": "gpu", "add": {"extendedResourceTolerations": {}}, "order": 1},
    {"name": "zone", "add": {"nodeAffinity": {"required": [ZONE]}}, "order": 2, **ZONE_POLICY},
]
EXCLUDED_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease"}


def expected(pod: Doc, namespace: str) -> tuple[Doc, list[str]]:
    """The pod as the reference places it, and the policies that changed it."""
    applied = []
    after = with_extended_resource_tolerations(pod)
    if after != pod:
        applied.append("gpu")
    placed = not pinned(pod) and namespace not in EXCLUDED_NAMESPACES
    if placed and policy_applies(ZONE_POLICY, pod):
        zoned = with_required(after, ZONE)
        if zoned is not None and zoned != after:
            after = zoned
            applied.append("zone")
    return after, applied
