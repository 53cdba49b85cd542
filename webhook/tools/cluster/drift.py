"""Drift: where the declared pools and the cluster's nodes disagree (`check --nodes`,
`check --cluster`).

A pod placed on a pool requires the pool's labels, so it can land on any node that carries
them: each declared pool is compared with every such node (and every Karpenter NodePool whose
template carries them), for taints (key, value and effect), capacity type (from the provider's
label, when the node has one) and extended resources. Nodes that no declared pool's labels
select are drift too: the proof of placement knows nothing of them. A pool that no node
carries the labels of is reported apart, as a warning: it may be scaled to zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from webhook.kube.karpenter import Template
from webhook.kube.nodes import Node, Taint, capacity_of, pool_label, transient
from webhook.policy.pools import NodePool
from webhook.tools.cluster.fleet import Fleet

SHOWN = 3  # member names in a line; the rest are counted
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


@dataclass(frozen=True)
class Member:
    """A node, or a Karpenter NodePool's template (the nodes it will launch)."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    extended: frozenset[str]


@dataclass
class Drift:
    findings: list[str] = field(default_factory=list)  # drift: an error unless --drift=warn
    empty: list[str] = field(default_factory=list)  # pools no node carries the labels of
    compared: int = 0  # nodes and templates compared


def find_drift(pools: Mapping[str, NodePool], fleet: Fleet) -> Drift:
    members = [_node(n) for n in fleet.nodes if not _control_plane(n)]
    members += [_template(t) for t in fleet.templates]
    drift = Drift(compared=len(members))
    described: set[str] = set()
    for name, pool in pools.items():
        labels = pool.spec.node_labels
        carrying = [m for m in members if all(m.labels.get(k) == v for k, v in labels.items())]
        described.update(m.name for m in carrying)
        if not carrying:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
            drift.empty.append(
                f"pool {name}: no node carries its labels ({shown}): it may be scaled to zero, "
                "or no node has these labels"
            )
            continue
        drift.findings += compare(name, pool, carrying)
    drift.findings += _undescribed([m for m in members if m.name not in described])
    return drift


def compare(name: str, pool: NodePool, members: Sequence[Member]) -> list[str]:
    """One line per difference, naming the members that show it."""
    spec = pool.spec
    found: dict[str, list[str]] = {}
    declared = tuple((t.key, t.value, t.effect) for t in spec.node_taints)
    for member in members:
        for line in _taint_lines(name, declared, member.taints):
            found.setdefault(line, []).append(member.name)
        capacity, evidence = capacity_of(member.labels)
        if capacity is not None and capacity != spec.capacity_type:
            line = (
                f"pool {name} is declared {spec.capacity_type}, but {{}}: {capacity} ({evidence})"
            )
            found.setdefault(line, []).append(member.name)
        for resource in sorted(set(spec.extended_resources) - member.extended):
            line = f"pool {name} declares {resource}, but {{}} offer none"
            found.setdefault(line, []).append(member.name)
        for resource in sorted(member.extended - set(spec.extended_resources)):
            line = f"pool {name}: {{}} offer {resource}, which it does not declare"
            found.setdefault(line, []).append(member.name)
    return [line.format(_members(names)) for line, names in found.items()]


def _taint_lines(name: str, declared: Sequence[Taint], actual: Sequence[Taint]) -> Iterable[str]:
    """Declared and actual taints paired by key and effect, then by key: what is left over
    differs in value or effect, is missing, or is not declared."""
    left = [t for t in actual if t not in declared]
    for taint in declared:
        if taint in actual:
            continue
        same_key = [t for t in left if t[0] == taint[0]]
        twin = next((t for t in same_key if t[2] == taint[2]), same_key[0] if same_key else None)
        if twin is None:
            yield f"pool {name}: taint {_taint(taint)} is declared, {{}} carry no taint {taint[0]}"
        else:
            left.remove(twin)
            yield f"pool {name}: taint {_taint(taint)} is declared, {{}} carry {_taint(twin)}"
    for taint in left:
        yield f"pool {name}: {{}} carry the taint {_taint(taint)}, which it does not declare"


def _undescribed(members: Sequence[Member]) -> list[str]:
    """Nodes no declared pool selects, one line per pool label value."""
    groups: dict[str, list[str]] = {}
    for member in members:
        label = pool_label(member.labels)
        where = f"{label}={member.labels[label]}" if label else "no pool label"
        groups.setdefault(where, []).append(member.name)
    return [
        f"{_members(names)} ({where}): no declared pool's labels select them"
        for where, names in sorted(groups.items())
    ]


def _node(node: Node) -> Member:
    return Member(f"node {node.name}", node.labels, node.taints, node.extended)


def _template(template: Template) -> Member:
    name = f"Karpenter NodePool {template.nodepool} ({template.capacity})"
    taints = tuple(t for t in template.taints if not transient(t[0]))
    return Member(name, template.labels, taints, template.extended)


def _control_plane(node: Node) -> bool:
    """A kubeadm control-plane node: labelled and tainted so that no ordinary pod runs there."""
    return CONTROL_PLANE in node.labels and any(t[0] == CONTROL_PLANE for t in node.taints)


def _members(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:SHOWN])
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return shown + more


def _taint(taint: Taint) -> str:
    key, value, effect = taint
    return f"{key}={value}:{effect}" if value else f"{key}:{effect}"
