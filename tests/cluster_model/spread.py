"""The PodTopologySpread filter for `whenUnsatisfiable: DoNotSchedule` constraints.

A port of `pkg/scheduler/framework/plugins/podtopologyspread/filtering.go` (`calPreFilterState`,
`Filter`, `minMatchNum`) and `common.go` (`filterTopologySpreadConstraints`,
`matchNodeInclusionPolicies`, `countPodsMatchSelector`):

- A node missing any constraint's `topologyKey` label is refused outright:
  "node(s) didn't match pod topology spread constraints (missing required label)".
- Domains are counted on the nodes that carry every constraint's key and pass the constraint's
  inclusion policies (`nodeAffinityPolicy` defaults to Honor: the pod's required node affinity
  and nodeSelector; `nodeTaintsPolicy` to Ignore). A domain counts the pods of the incoming
  pod's namespace that the selector matches, skipping terminating pods; an empty selector (`{}`)
  counts none. `matchLabelKeys` add the pod's own values of those keys to the selector.
- A node fits a constraint when `matching pods in its domain + (1 if the pod matches its own
  selector) - global minimum <= maxSkew`; the global minimum is 0 while there are fewer domains
  than `minDomains` (default 1).

The cluster-level default constraints are ScheduleAnyway (`DefaultConstraints` of the plugin's
args), so they never filter and are not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.cluster_model.labels import Selector, SelectorError, label_selector
from tests.cluster_model.node_affinity import required_node_affinity
from tests.cluster_model.taints import taint_toleration_filter

Doc = Mapping[str, Any]

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"


class NodeView(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def taints(self) -> Sequence[Doc]: ...


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    topology_key: str
    selector: Selector
    min_domains: int = 1
    honor_affinity: bool = True
    honor_taints: bool = False


@dataclass
class SpreadState:
    """What PreFilter computes once per pod: matching pods per (key, value) domain."""

    constraints: list[Constraint]
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    error: str | None = None

    def minimum(self, constraint: Constraint) -> int:
        domains = [n for (k, _), n in self.counts.items() if k == constraint.topology_key]
        if len(domains) < constraint.min_domains:
            return 0
        return min(domains)


def spread_prefilter(
    pod: Doc, namespace: str, nodes: Iterable[NodeView], pods_on: Mapping[str, list[Doc]]
) -> SpreadState:
    try:
        constraints = hard_constraints(pod)
    except SelectorError as error:
        return SpreadState([], error=f"obtaining pod's hard topology spread constraints: {error}")
    state = SpreadState(constraints)
    if not constraints:
        return state
    affinity = required_node_affinity(pod)
    for node in nodes:
        if any(c.topology_key not in node.labels for c in constraints):
            continue
        for constraint in constraints:
            if constraint.honor_affinity and not affinity(node.labels, node.name):
                continue
            if constraint.honor_taints and taint_toleration_filter(pod, node.taints):
                continue
            pair = (constraint.topology_key, node.labels[constraint.topology_key])
            count = _count(pods_on.get(node.name, []), constraint.selector, namespace)
            state.counts[pair] = state.counts.get(pair, 0) + count
    return state


def spread_filter(state: SpreadState, pod: Doc, labels: Mapping[str, str]) -> str | None:
    if state.error is not None:
        return state.error
    own_labels = (pod.get("metadata") or {}).get("labels") or {}
    for constraint in state.constraints:
        value = labels.get(constraint.topology_key)
        if value is None:
            return ERR_REASON_NODE_LABEL_NOT_MATCH
        self_match = 1 if constraint.selector.matches(own_labels) else 0
        matching = state.counts.get((constraint.topology_key, value), 0)
        if matching + self_match - state.minimum(constraint) > constraint.max_skew:
            return ERR_REASON_CONSTRAINTS_NOT_MATCH
    return None


def hard_constraints(pod: Doc) -> list[Constraint]:
    """`filterTopologySpreadConstraints(..., DoNotSchedule)`."""
    own_labels = (pod.get("metadata") or {}).get("labels") or {}
    out = []
    for c in (pod.get("spec") or {}).get("topologySpreadConstraints") or []:
        if c.get("whenUnsatisfiable") != "DoNotSchedule":
            continue
        selector = label_selector(c.get("labelSelector"))
        keys = {k: own_labels[k] for k in c.get("matchLabelKeys") or [] if k in own_labels}
        if keys:
            selector = selector.merged(keys)
        out.append(
            Constraint(
                max_skew=int(c.get("maxSkew", 1)),
                topology_key=str(c.get("topologyKey", "")),
                selector=selector,
                min_domains=int(c.get("minDomains") or 1),
                honor_affinity=c.get("nodeAffinityPolicy", "Honor") == "Honor",
                honor_taints=c.get("nodeTaintsPolicy", "Ignore") == "Honor",
            )
        )
    return out


def _count(pods: Iterable[Doc], selector: Selector, namespace: str) -> int:
    if selector.empty:
        return 0
    return sum(
        1
        for p in pods
        if not (p.get("metadata") or {}).get("deletionTimestamp")
        and (p.get("metadata") or {}).get("namespace", "default") == namespace
        and selector.matches((p.get("metadata") or {}).get("labels") or {})
    )
