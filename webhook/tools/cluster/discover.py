"""Node pools read from the nodes themselves: `placement-webhook pools`.

Nodes are grouped by their provider's pool label (`webhook.kube.nodes.POOL_LABELS`), a
Karpenter NodePool's nodes also by capacity type (one NodePool may launch spot and on-demand
nodes: two pools for placement), or by a label the user names. A pool is what all of its nodes
share: the labels that describe it (`describes_pool`), the taints, the capacity type from the
provider's label, the extended resources they offer. A Karpenter NodePool's own template says
the same for nodes it has not launched yet, so it is read first, and a NodePool scaled to zero
still has its pools.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from webhook.kube.karpenter import Template
from webhook.kube.nodes import (
    CAPACITY_LABELS,
    KARPENTER_CAPACITY,
    KARPENTER_POOL,
    CapacityType,
    Node,
    Taint,
    capacity_of,
    describes_pool,
    pool_label,
)
from webhook.tools.cluster.fleet import Fleet

Key = tuple[str, str, str]  # (label, value, Karpenter capacity type or "")
NAME_LENGTH = 63


@dataclass(frozen=True)
class Discovered:
    """One pool, as a NodePool document declares it, and where it was read from."""

    name: str
    key: Key
    capacity: CapacityType
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    extended: tuple[str, ...]
    nodes: tuple[str, ...]
    template: bool  # a Karpenter NodePool's template was read
    notes: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        label, value, capacity = self.key
        if capacity:
            return f"Karpenter NodePool {value}, capacity type {capacity}"
        return f"nodes labelled {label}={value}"


@dataclass
class Discovery:
    pools: list[Discovered]
    ungrouped: list[str] = field(default_factory=list)  # nodes with no pool label


def discover(fleet: Fleet, group_by: str | None = None) -> Discovery:
    keys = (group_by,) if group_by else None
    nodes: dict[Key, list[Node]] = {}
    ungrouped = []
    for node in fleet.nodes:
        key = _key(node.labels, keys)
        if key is None:
            ungrouped.append(node.name)
        else:
            nodes.setdefault(key, []).append(node)
    templates = {_key(t.labels, keys) or _template_key(t): t for t in fleet.templates}
    names: set[str] = set()
    pools = []
    for key in sorted(set(nodes) | set(templates)):
        pool = _pool(key, nodes.get(key, []), templates.get(key), names)
        names.add(pool.name)
        pools.append(pool)
    return Discovery(sorted(pools, key=lambda p: p.name), sorted(ungrouped))


def _key(labels: Mapping[str, str], group_by: Sequence[str] | None) -> Key | None:
    label = pool_label(labels, group_by) if group_by else pool_label(labels)
    if label is None:
        return None
    capacity = labels.get(KARPENTER_CAPACITY, "") if label == KARPENTER_POOL else ""
    return label, labels[label], capacity


def _template_key(template: Template) -> Key:
    return KARPENTER_POOL, template.nodepool, template.capacity


def _pool(key: Key, nodes: list[Node], template: Template | None, taken: set[str]) -> Discovered:
    label, value, karpenter_capacity = key
    notes: list[str] = []
    if template is not None:
        shared, taints = dict(template.labels), template.taints
    else:
        shared, taints = _shared_labels(nodes), _shared_taints(nodes)
    labels = {k: v for k, v in sorted(shared.items()) if describes_pool(k, v)}
    labels[label] = value
    if karpenter_capacity:
        labels[KARPENTER_CAPACITY] = karpenter_capacity
        capacity = CAPACITY_LABELS[KARPENTER_CAPACITY].get(karpenter_capacity, "on-demand")
    else:
        capacity = _capacity(nodes, notes)
    extended = _extended(nodes, template, notes)
    name = _name(f"{value}-{karpenter_capacity}" if karpenter_capacity else value, taken)
    return Discovered(
        name,
        key,
        capacity,
        dict(sorted(labels.items())),
        _one_per_key_and_effect(taints),
        extended,
        tuple(sorted(n.name for n in nodes)),
        template is not None,
        tuple(notes),
    )


def _shared_labels(nodes: Sequence[Node]) -> dict[str, str]:
    if not nodes:
        return {}
    shared = dict(nodes[0].labels)
    for node in nodes[1:]:
        shared = {k: v for k, v in shared.items() if node.labels.get(k) == v}
    return shared


def _shared_taints(nodes: Sequence[Node]) -> tuple[Taint, ...]:
    if not nodes:
        return ()
    rest = [set(n.taints) for n in nodes[1:]]
    return tuple(t for t in nodes[0].taints if all(t in taints for taints in rest))


def _one_per_key_and_effect(taints: Iterable[Taint]) -> tuple[Taint, ...]:
    """A Node cannot hold two taints of one key and effect (validateNodeTaints): the first."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for key, value, effect in sorted(taints, key=lambda t: (t[0], t[2])):
        if (key, effect) not in seen:
            seen.add((key, effect))
            kept.append((key, value, effect))
    return tuple(kept)


def _capacity(nodes: Sequence[Node], notes: list[str]) -> CapacityType:
    found = [capacity_of(n.labels)[0] for n in nodes]
    spot, on_demand = found.count("spot"), found.count("on-demand")
    if spot and on_demand:
        notes.append(
            f"{spot} spot and {on_demand} on-demand nodes: declared spot, as any of them may be "
            "taken back; a group of one capacity type each places pods better"
        )
        return "spot"
    if spot:
        return "spot"
    if not on_demand:
        notes.append("no node says its capacity type: on-demand assumed, say spot if they are")
    return "on-demand"


def _extended(
    nodes: Sequence[Node], template: Template | None, notes: list[str]
) -> tuple[str, ...]:
    offered: dict[str, int] = {}
    for node in nodes:
        for resource in node.extended:
            offered[resource] = offered.get(resource, 0) + 1
    for resource, count in sorted(offered.items()):
        if count < len(nodes):
            notes.append(f"{resource}: offered by {count} of its {len(nodes)} nodes")
    every = set(offered) | set(template.extended if template else ())
    return tuple(sorted(every))


def _name(value: str, taken: set[str]) -> str:
    """A NodePool name (a DNS label of at most 63 characters) from a label value."""
    base = re.sub(r"[^a-z0-9.-]+", "-", value.lower()).strip("-.")[:NAME_LENGTH].rstrip("-.")
    base = base or "pool"
    name, number = base, 1
    while name in taken:
        number += 1
        suffix = f"-{number}"
        name = base[: NAME_LENGTH - len(suffix)].rstrip("-.") + suffix
    return name
