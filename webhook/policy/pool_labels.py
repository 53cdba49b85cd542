"""How a set's node pools are told apart by their labels.

A pod is placed on a pool by requiring the pool's labels, and on a preference of pools by
requiring one label key to be any of their values. So a pool whose labels another pool also
states is no place of its own (`overlaps`), and a preference needs a key whose values admit its
pools and no other (`preference_key`). A pool that does not state a key may still carry it on
its nodes, with any value: the declarations say what every node has, not what none has.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from webhook.policy.pools import NodePool


def preference_key(pools: Sequence[NodePool], declared: Iterable[NodePool]) -> str | None:
    """The node label key of the required expression (`key In [their values]`) that admits
    exactly `pools`, a preference, among the `declared` ones: a key every one of them states
    and every other pool states with another value. A pool that does not state the key is
    admitted too: a node of it may carry the key with any value."""
    return next((key for key, admitted in _candidate_keys(pools, declared) if not admitted), None)


def why_no_preference_key(pools: Sequence[NodePool], declared: Iterable[NodePool]) -> str:
    """Why no key admits exactly `pools`: for each key they all state, a pool it also admits."""
    candidates = list(_candidate_keys(pools, declared))
    if not candidates:
        return "the pools state no node label key in common"
    return "; ".join(f"{key} also admits {admitted[0]}" for key, admitted in candidates)


def _candidate_keys(
    pools: Sequence[NodePool], declared: Iterable[NodePool]
) -> Iterable[tuple[str, list[str]]]:
    """Each key all `pools` state, in name order, with the other pools its values admit."""
    names = {p.name for p in pools}
    others = [p for p in declared if p.name not in names]
    shared = set.intersection(*(set(p.spec.node_labels) for p in pools))
    for key in sorted(shared):
        values = {p.spec.node_labels[key] for p in pools}
        admitted = [why for other in others if (why := _admitted(other, key, values))]
        yield key, admitted


def _admitted(pool: NodePool, key: str, values: set[str]) -> str | None:
    """Whether `key In values` can hold on a node of `pool`, and why."""
    value = pool.spec.node_labels.get(key)
    if value is None:
        return f"pool {pool.name}, which does not state it"
    return f"pool {pool.name} ({key}={value})" if value in values else None


@dataclass(frozen=True)
class Overlap:
    """Two pools that no label key tells apart (neither states a key the other states with
    another value): a pod placed on `placed`, all its labels required, can land on `lands`.
    `certain` when `lands` states every label of `placed`; otherwise it leaves some unstated,
    and its nodes may carry them."""

    placed: NodePool
    lands: NodePool
    certain: bool

    def differences(self) -> list[str]:
        """How the two differ in what placement is about; nothing: they are alike."""
        a, b = self.placed, self.lands
        found = []
        if a.spot != b.spot:
            found.append(f"{a.name} is {a.spec.capacity_type} and {b.name} {b.spec.capacity_type}")
        if set(a.spec.node_taints) != set(b.spec.node_taints):
            found.append(
                f"their taints differ ({_listed(a, a.spec.node_taints)}; "
                f"{_listed(b, b.spec.node_taints)})"
            )
        if set(a.spec.extended_resources) != set(b.spec.extended_resources):
            found.append(
                f"their extended resources differ ({_listed(a, a.spec.extended_resources)}; "
                f"{_listed(b, b.spec.extended_resources)})"
            )
        return found

    def refusal(self) -> str:
        a, b = self.placed, self.lands
        if a.spec.node_labels == b.spec.node_labels:
            head = f"node pools {a.name} and {b.name} have the same labels: a pod placed on one "
            head += "can land on the other"
        else:
            head = f"node pool {b.name} states every label of node pool {a.name}: a pod placed "
            head += f"on {a.name} can land on {b.name}"
        return f"{head}, though {', and '.join(self.differences())}; {_APART}"

    def warning(self) -> str:
        # Told from the side that matters most: a pod placed on on-demand landing on spot.
        a, b = (self.lands, self.placed) if self.placed.spot else (self.placed, self.lands)
        return (
            f"node pools {b.name} ({b.spec.capacity_type}) and {a.name} "
            f"({a.spec.capacity_type}) state no label key in common with another value: a "
            f"node of {b.name} may carry the labels of {a.name}, and a pod placed on {a.name} "
            f"land on it; {_APART}"
        )


_APART = "label them apart (a key both state, with another value in each)"


def _listed(pool: NodePool, items: Iterable[object]) -> str:
    return f"{pool.name}: {', '.join(map(str, items)) or 'none'}"


def overlaps(pools: Sequence[NodePool]) -> list[Overlap]:
    """Every pair of `pools` that no label key tells apart, in declaration order; for a pair
    where one states every label of the other, the pod is placed on the one with fewer."""
    found = []
    for index, first in enumerate(pools):
        for second in pools[index + 1 :]:
            a, b = first.spec.node_labels, second.spec.node_labels
            if any(b.get(key, value) != value for key, value in a.items()):
                continue  # one key, two values: told apart
            if a.items() <= b.items():
                found.append(Overlap(first, second, certain=True))
            elif b.items() <= a.items():
                found.append(Overlap(second, first, certain=True))
            else:
                found.append(Overlap(second, first, certain=False))
    return found
