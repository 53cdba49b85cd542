"""Which of the set's node pools a pod can reach, without trying every pool on every pod.

A set can declare hundreds of pools (one per team). Most cannot run a given pod for a reason
an index finds at once: a taint it tolerates nothing of, a label its requirements exclude, an
extended resource the pool lacks. Only the pools left are checked in full
(`webhook.kube.scheduling.why_not`), so the answer is the same as checking them all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook.kube.scheduling import (
    BLOCKING_EFFECTS,
    Misfit,
    Node,
    Requirements,
    requirements,
    why_not,
)

SHOWN_POOLS = 3  # pools named apart in a why_none answer; the rest are counted


@dataclass(frozen=True)
class Pool:
    name: str
    node: Node
    spot: bool


class PoolIndex:
    """The pools by blocking taint key, by label and by extended resource."""

    def __init__(self, pools: Sequence[Pool]) -> None:
        self.pools = tuple(pools)
        everyone = frozenset(range(len(self.pools)))
        self.everyone = everyone
        self.taint_keys = [
            frozenset(k for k, _, effect in p.node.taints if effect in BLOCKING_EFFECTS)
            for p in self.pools
        ]
        self.untainted = frozenset(i for i in everyone if not self.taint_keys[i])
        self.tainted_with: dict[str, set[int]] = {}
        self.labelled: dict[str, dict[str, set[int]]] = {}
        self.offering: dict[str, set[int]] = {}
        for i, pool in enumerate(self.pools):
            for key in self.taint_keys[i]:
                self.tainted_with.setdefault(key, set()).add(i)
            for key, value in pool.node.labels.items():
                self.labelled.setdefault(key, {}).setdefault(value, set()).add(i)
            for resource in pool.node.extended_resources:
                self.offering.setdefault(resource, set()).add(i)
        # The pools that do not state a key: their nodes may have it at any value.
        self.unstated = {
            key: everyone - frozenset().union(*by_value.values())
            for key, by_value in self.labelled.items()
        }

    def reachable(self, pod: Mapping[str, Any], extended: Collection[str]) -> tuple[Pool, ...]:
        """The pools whose nodes can run the pod (which requests `extended`)."""
        req = requirements(pod)
        return tuple(
            self.pools[i]
            for i in sorted(self.candidates(req, extended))
            if why_not(req, self.pools[i].node, extended) is None
        )

    def candidates(self, req: Requirements, extended: Collection[str]) -> Collection[int]:
        """The pools nothing indexed rules out: a superset of those that can run the pod."""
        found = self._tolerated(req)
        for resource in extended:
            found = found & self.offering.get(resource, set())
            if not found:
                return found
        for key, value in req.selector.items():
            if isinstance(value, str):
                found = found & self._allowing(key, (value,))
        if req.terms or req.required:
            found = found & self._in_some_term(req)
        return found

    def _in_some_term(self, req: Requirements) -> frozenset[int]:
        """The pools some required term can match, judged on its first `In` expression (the
        terms are ORed; a term the scheduler cannot parse matches none)."""
        found: frozenset[int] = frozenset()
        for problem, expressions in req.terms:
            if problem is not None:
                continue
            first = next((e for e in expressions if e.get("operator") == "In"), None)
            if first is None:
                return self.everyone
            found = found | self._allowing(str(first.get("key")), first.get("values") or ())
        return found

    def _tolerated(self, req: Requirements) -> frozenset[int]:
        """The pools whose every blocking taint has a toleration on its key (a toleration with
        no key tolerates every key)."""
        if "" in req.tolerations:
            return self.everyone
        keys = req.tolerations.keys()
        found = set(self.untainted)
        for key in keys:
            for i in self.tainted_with.get(key, ()):
                if self.taint_keys[i] <= keys:
                    found.add(i)
        return frozenset(found)

    def _allowing(self, key: str, values: Collection[Any]) -> frozenset[int]:
        """The pools whose nodes can have `key` at one of `values`: those with it, and those
        that do not state the key."""
        by_value = self.labelled.get(key)
        if by_value is None:
            return self.everyone
        allowed = [by_value[v] for v in values if isinstance(v, str) and v in by_value]
        return self.unstated[key].union(*allowed)


def why_none(pools: Sequence[Pool], pod: Mapping[str, Any], extended: Collection[str]) -> str:
    """Why a pod fits none of `pools`, grouped: `on-demand pools offer no nvidia.com/gpu`."""
    if not pools:
        return "the set declares no node pool"
    req = requirements(pod)
    misfits: dict[str, Misfit | None] = {p.name: why_not(req, p.node, extended) for p in pools}
    reachable = [p for p in pools if getattr(misfits[p.name], "what", "") != "labels"]
    if not reachable:
        first = misfits[pools[0].name]
        return f"no pool has the labels it requires ({first.detail if first else ''})"
    details = {str(misfits[p.name]) for p in reachable}
    if len(details) > 1:
        shown = "; ".join(f"pool {p.name}: {misfits[p.name]}" for p in reachable[:SHOWN_POOLS])
        more = len(reachable) - SHOWN_POOLS
        return shown + (f"; and {more} more pools" if more > 0 else "")
    misfit = misfits[reachable[0].name]
    assert misfit is not None
    if misfit.what == "resources":
        verb = "offers" if len(reachable) == 1 else "offer"
        return f"{_named(reachable)} {verb} no {misfit.detail}"
    return f"{_named(reachable)}: {misfit}"


def _named(pools: list[Pool]) -> str:
    """`pool g1`, `on-demand pools`, or `pools a, b` when they mix capacity types."""
    if len(pools) == 1:
        return f"pool {pools[0].name}"
    capacity = {p.spot for p in pools}
    if len(capacity) == 1:
        return "spot pools" if capacity.pop() else "on-demand pools"
    names = ", ".join(p.name for p in pools[:SHOWN_POOLS])
    more = len(pools) - SHOWN_POOLS
    return "pools " + names + (f" and {more} more" if more > 0 else "")
