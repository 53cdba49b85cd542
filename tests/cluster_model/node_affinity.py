"""The NodeAffinity and NodeName filters.

NodeAffinity is `pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go` (PreFilter,
Filter) over `GetRequiredNodeAffinity` and `LazyErrorNodeSelector` of
`staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go`:

- `spec.nodeSelector`: every pair must be a node label (`labels.SelectorFromSet`).
- required `nodeSelectorTerms` are ORed, a term's expressions and fields ANDed. A term with
  neither (`{}`, or empty lists) is dropped (`isEmptyNodeSelectorTerm`), so `[{}]` and `[]`
  leave no term and match no node. A term the scheduler cannot parse (a Gt value that is not an
  integer, an unknown operator, an invalid key or value, a matchFields In/NotIn without exactly
  one value) matches no node; the other terms still count ("parse errors are only returned if no
  terms matched", and Filter ignores them).
- `matchFields` select on `metadata.name` (`extractNodeFields`); a field selector on any other
  field compares it with "" (`fields.Set.Get` of a missing key).
- PreFilter refuses every node when each term pins `metadata.name` and the pins of a term
  intersect to nothing: "pod affinity terms conflict".

NodeName is `plugins/nodename/node_name.go`: a pod with `spec.nodeName` fits that node only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.cluster_model.labels import (
    Requirement,
    Selector,
    SelectorError,
    new_requirement,
    selector_from_set,
)

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_CONFLICT = "pod affinity terms conflict"
ERR_REASON_NODE_NAME = "node(s) didn't match the requested node name"
OBJECT_NAME_FIELD = "metadata.name"

Doc = Mapping[str, Any]
NodeMatch = Callable[[Mapping[str, str], str], bool]


def node_name_filter(pod: Doc, node_name: str) -> str | None:
    """`nodename.Fits`: no nodeName, or this node's name."""
    wanted = (pod.get("spec") or {}).get("nodeName")
    return None if not wanted or wanted == node_name else ERR_REASON_NODE_NAME


def node_affinity_filter(pod: Doc, labels: Mapping[str, str], node_name: str) -> str | None:
    """PreFilter's conflict check, then Filter: None when the node fits."""
    if name_pins_conflict(pod):
        return ERR_REASON_CONFLICT
    return None if required_node_affinity(pod)(labels, node_name) else ERR_REASON_POD


def required_node_affinity(pod: Doc) -> NodeMatch:
    """`GetRequiredNodeAffinity(pod).Match`, with parse errors ignored as Filter does."""
    spec = pod.get("spec") or {}
    by_selector = selector_from_set(spec.get("nodeSelector") or {})
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    terms = None if required is None else parse_terms(required.get("nodeSelectorTerms") or [])

    def match(labels: Mapping[str, str], node_name: str) -> bool:
        if not by_selector.matches(labels):
            return False
        return terms is None or any(t.matches(labels, node_name) for t in terms)

    return match


@dataclass(frozen=True)
class Term:
    """A parsed `nodeSelectorTerm`; `broken` is set when the scheduler could not parse it."""

    expressions: Selector | None
    fields: tuple[Requirement, ...] | None
    broken: str | None = None

    def matches(self, labels: Mapping[str, str], node_name: str) -> bool:
        """`nodeSelectorTerm.match`: a broken term never matches."""
        if self.broken is not None:
            return False
        if self.expressions is not None and not self.expressions.matches(labels):
            return False
        node_fields = {OBJECT_NAME_FIELD: node_name} if node_name else {}
        # Upstream skips the field selector for a node without a name (len(nodeFields) > 0).
        return (
            self.fields is None
            or not node_fields
            or all(
                (node_fields.get(f.key, "") in f.values) == (f.operator == "In")
                for f in self.fields
            )
        )


def parse_terms(terms: list[Doc]) -> list[Term]:
    """`NewLazyErrorNodeSelector`: empty terms dropped, each other term parsed on its own."""
    return [
        parse_term(term)
        for term in terms
        if (term or {}).get("matchExpressions") or (term or {}).get("matchFields")
    ]


def parse_term(term: Doc) -> Term:
    """`newNodeSelectorTerm`: matchExpressions as a label selector (Gt and Lt allowed),
    matchFields as a field selector (In and NotIn with exactly one value)."""
    try:
        expressions = term.get("matchExpressions") or []
        fields = term.get("matchFields") or []
        return Term(
            Selector(tuple(_requirement(e) for e in expressions)) if expressions else None,
            tuple(_field_requirement(f) for f in fields) if fields else None,
        )
    except SelectorError as error:
        return Term(None, None, broken=str(error))


def _requirement(expression: Doc) -> Requirement:
    key, operator = expression.get("key"), expression.get("operator")
    return new_requirement(str(key), str(operator), expression.get("values") or [])


def _field_requirement(expression: Doc) -> Requirement:
    """`nodeSelectorRequirementsAsFieldSelector`: the key is not validated here."""
    operator, values = expression.get("operator"), list(expression.get("values") or [])
    if operator not in ("In", "NotIn"):
        raise SelectorError(f"matchFields operator {operator!r}: not supported")
    if len(values) != 1:
        raise SelectorError("matchFields values: must have one element")
    return Requirement(str(expression.get("key")), operator, (str(values[0]),))


def name_pins_conflict(pod: Doc) -> bool:
    """PreFilter (node_affinity.go): when every term pins `metadata.name` with In, the union
    of each term's intersection of pins is the only candidates; empty means none at all."""
    node_affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return False
    candidates: set[str] = set()
    for term in terms:
        pins = [
            set(f.get("values") or [])
            for f in (term or {}).get("matchFields") or []
            if f.get("key") == OBJECT_NAME_FIELD and f.get("operator") == "In"
        ]
        if not pins:
            return False  # a term without a name pin admits every node
        candidates |= set.intersection(*pins)
    return not candidates
