"""The nodes a cluster has and the Karpenter NodePools that launch more, from a dump
(`kubectl get nodes,nodepools.karpenter.sh -o json`, files or `-`) or from the API."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from webhook.kube.karpenter import Template, is_nodepool, templates
from webhook.kube.nodes import Node, NodeError, read_node
from webhook.tools.cluster.api import KARPENTER_NODEPOOLS, NODES, Cluster, ClusterError
from webhook.tools.inputs import Item


@dataclass
class Fleet:
    nodes: list[Node] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    nodepools: int = 0  # Karpenter NodePools read
    ignored: int = 0  # objects of other kinds

    def describe(self) -> str:
        text = f"{len(self.nodes)} nodes"
        return text + (f" and {self.nodepools} Karpenter NodePools" if self.nodepools else "")


def fleet_of(items: Iterable[Item]) -> Fleet:
    """Nodes and `karpenter.sh/v1` NodePools among the objects; others are counted. A
    malformed one raises NodeError naming it."""
    fleet = Fleet()
    for item in items:
        obj = item.obj
        if obj.get("kind") == "Node":
            fleet.nodes.append(read_node(obj, item.source))
        elif is_nodepool(obj):
            fleet.templates += templates(obj, item.source)
            fleet.nodepools += 1
        else:
            fleet.ignored += 1
    return fleet


def fleet_from_cluster(cluster: Cluster) -> Fleet:
    """Every Node, and the Karpenter NodePools where the CRD is installed."""
    items = chain(
        (Item(f"{cluster.server}: node", o) for o in cluster.list(NODES)),
        (Item(f"{cluster.server}: nodepool", o) for o in _nodepools(cluster)),
    )
    try:
        return fleet_of(items)  # a page at a time: only what placement needs of each is kept
    except NodeError as exc:
        raise ClusterError(str(exc)) from None


def _nodepools(cluster: Cluster) -> Iterator[dict[str, Any]]:
    """Karpenter's NodePools, asked for once the nodes are read, where the CRD is served."""
    if cluster.served(KARPENTER_NODEPOOLS):
        yield from cluster.list(KARPENTER_NODEPOOLS)
