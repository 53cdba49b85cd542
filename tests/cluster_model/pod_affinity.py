"""The InterPodAffinity filter: required podAffinity and podAntiAffinity, both ways.

A port of `pkg/scheduler/framework/plugins/interpodaffinity/filtering.go` (PreFilter,
`satisfyPodAffinity`, `satisfyPodAntiAffinity`, `satisfyExistingPodsAntiAffinity`) with the
terms of `framework.AffinityTerm` (`pkg/scheduler/framework/types.go`: `newAffinityTerm`,
`getNamespacesFromPodAffinityTerm`, `AffinityTerm.Matches`):

- A term selects pods by `labelSelector` in `namespaces`, or in the namespaces its
  `namespaceSelector` matches (`{}` is every namespace); with neither, the pod's own namespace.
- podAffinity: the node must carry every term's `topologyKey`, and its domain must hold a pod
  that matches all the terms. When no pod anywhere matches them, a pod that matches its own
  terms may go anywhere the keys are (the first pod of a group that attracts itself); otherwise
  "node(s) didn't match pod affinity rules".
- podAntiAffinity: no domain of the node may hold a pod the term matches; nor may the node sit
  in the domain of an existing pod whose own anti-affinity matches the incoming pod.
- A selector the scheduler cannot parse fails PreFilter: no node at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.cluster_model.labels import NOTHING, Selector, SelectorError, label_selector

Doc = Mapping[str, Any]
Pair = tuple[str, str]

ERR_REASON_AFFINITY_RULES = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY_RULES = "node(s) didn't match pod anti-affinity rules"
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"


class NodeView(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class AffinityTerm:
    namespaces: frozenset[str]
    selector: Selector
    topology_key: str
    namespace_selector: Selector

    def matches(self, pod: Doc, namespace_labels: Mapping[str, str]) -> bool:
        if _namespace(pod) in self.namespaces or self.namespace_selector.matches(namespace_labels):
            return self.selector.matches(_labels(pod))
        return False


@dataclass
class AffinityState:
    affinity: list[AffinityTerm] = field(default_factory=list)
    anti_affinity: list[AffinityTerm] = field(default_factory=list)
    affinity_counts: dict[Pair, int] = field(default_factory=dict)
    anti_affinity_counts: dict[Pair, int] = field(default_factory=dict)
    existing_anti_affinity_counts: dict[Pair, int] = field(default_factory=dict)
    matches_itself: bool = False
    error: str | None = None


def affinity_prefilter(
    pod: Doc,
    nodes: Iterable[NodeView],
    pods_on: Mapping[str, list[Doc]],
    namespaces: Mapping[str, Mapping[str, str]],
) -> AffinityState:
    try:
        state = AffinityState(required_terms(pod, "podAffinity"))
        state.anti_affinity = required_terms(pod, "podAntiAffinity")
    except SelectorError as error:
        return AffinityState(error=f"parsing pod: {error}")
    own_ns_labels = namespaces.get(_namespace(pod), {})
    for node in nodes:
        for existing in pods_on.get(node.name, []):
            ns_labels = namespaces.get(_namespace(existing), {})
            if state.affinity and all(t.matches(existing, ns_labels) for t in state.affinity):
                _count(state.affinity_counts, state.affinity, node)
            _count(
                state.anti_affinity_counts,
                [t for t in state.anti_affinity if t.matches(existing, ns_labels)],
                node,
            )
            _count(
                state.existing_anti_affinity_counts,
                [t for t in _terms_or_none(existing) if t.matches(pod, own_ns_labels)],
                node,
            )
    state.matches_itself = bool(state.affinity) and all(
        t.matches(pod, own_ns_labels) for t in state.affinity
    )
    return state


def affinity_filter(state: AffinityState, labels: Mapping[str, str]) -> str | None:
    if state.error is not None:
        return state.error
    if not _satisfies_affinity(state, labels):
        return ERR_REASON_AFFINITY_RULES
    for term in state.anti_affinity:
        value = labels.get(term.topology_key)
        if value is not None and state.anti_affinity_counts.get((term.topology_key, value), 0):
            return ERR_REASON_ANTI_AFFINITY_RULES
    if any(state.existing_anti_affinity_counts.get(pair, 0) for pair in labels.items()):
        return ERR_REASON_EXISTING_ANTI_AFFINITY
    return None


def _satisfies_affinity(state: AffinityState, labels: Mapping[str, str]) -> bool:
    pods_exist = True
    for term in state.affinity:
        value = labels.get(term.topology_key)
        if value is None:
            return False  # every topology label must be on the node
        if state.affinity_counts.get((term.topology_key, value), 0) <= 0:
            pods_exist = False
    return pods_exist or (not state.affinity_counts and state.matches_itself)


def required_terms(pod: Doc, kind: str) -> list[AffinityTerm]:
    """The pod's required terms of `kind` (podAffinity or podAntiAffinity), parsed."""
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    terms = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    return [_term(pod, t) for t in terms]


def _term(pod: Doc, term: Doc) -> AffinityTerm:
    listed = term.get("namespaces") or []
    ns_selector = term.get("namespaceSelector")
    namespaces = frozenset(listed) if listed or ns_selector is not None else {_namespace(pod)}
    return AffinityTerm(
        namespaces=frozenset(namespaces),
        selector=label_selector(term.get("labelSelector")),
        topology_key=str(term.get("topologyKey", "")),
        namespace_selector=NOTHING if ns_selector is None else label_selector(ns_selector),
    )


def _terms_or_none(existing: Doc) -> Sequence[AffinityTerm]:
    """An existing pod's required anti-affinity; one the scheduler cannot parse counts none."""
    try:
        return required_terms(existing, "podAntiAffinity")
    except SelectorError:
        return ()


def _count(counts: dict[Pair, int], terms: Iterable[AffinityTerm], node: NodeView) -> None:
    for term in terms:
        value = node.labels.get(term.topology_key)
        if value is not None:
            pair = (term.topology_key, value)
            counts[pair] = counts.get(pair, 0) + 1


def _namespace(pod: Doc) -> str:
    return str((pod.get("metadata") or {}).get("namespace") or "default")


def _labels(pod: Doc) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}
