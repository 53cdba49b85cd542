"""Nodes as the clouds write them: which pool a node belongs to, whether it is spot, which of
its labels and taints describe its pool, and which extended resources it offers.

Sources (each provider's own documentation):
- EKS managed node groups label every node `eks.amazonaws.com/nodegroup` and
  `eks.amazonaws.com/capacityType` (`ON_DEMAND`, `SPOT`; the API also has `CAPACITY_BLOCK`)
  (awsdocs/amazon-eks-user-guide `latest/ug/nodes/managed-node-groups.adoc`); eksctl's
  self-managed groups `alpha.eksctl.io/nodegroup-name` and `node-lifecycle` (eksctl docs,
  spot-instances).
- Karpenter v1: `karpenter.sh/nodepool`, `karpenter.sh/capacity-type` (`spot`, `on-demand`,
  `reserved`) (aws/karpenter-provider-aws `website/content/en/docs/concepts/scheduling.md`).
- GKE: `cloud.google.com/gke-nodepool`; Spot VMs `cloud.google.com/gke-spot=true` (newer nodes
  also `cloud.google.com/gke-provisioning=spot`), preemptible VMs
  `cloud.google.com/gke-preemptible=true`; on-demand nodes carry none of them
  (cloud.google.com/kubernetes-engine/docs/concepts/spot-vms).
- AKS: `kubernetes.azure.com/agentpool`, `kubernetes.azure.com/scalesetpriority=spot` on spot
  pools, absent on regular ones; the `kubernetes.azure.com/` prefix is reserved to AKS
  (MicrosoftDocs/azure-docs `articles/aks/reserved-labels-reference.md`, `aks/spot-node-pool.md`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webhook.kube.resources import is_extended_resource_name

CapacityType = Literal["spot", "on-demand"]
Taint = tuple[str, str, str]  # (key, value, effect)
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

# The label naming a node's pool, in the order they are tried: a Karpenter node on EKS carries
# no node-group label, and an eksctl managed group carries both EKS and eksctl ones.
POOL_LABELS = (
    "karpenter.sh/nodepool",
    "eks.amazonaws.com/nodegroup",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "alpha.eksctl.io/nodegroup-name",
)
KARPENTER_POOL = "karpenter.sh/nodepool"
KARPENTER_CAPACITY = "karpenter.sh/capacity-type"

# Each provider's capacity label, and what its values mean. A capacity block or a Karpenter
# `reserved` offering is bought ahead and never taken back early: on demand, for placement.
CAPACITY_LABELS: Mapping[str, Mapping[str, CapacityType]] = {
    KARPENTER_CAPACITY: {"spot": "spot", "on-demand": "on-demand", "reserved": "on-demand"},
    "eks.amazonaws.com/capacityType": {
        "SPOT": "spot",
        "ON_DEMAND": "on-demand",
        "CAPACITY_BLOCK": "on-demand",
    },
    "cloud.google.com/gke-spot": {"true": "spot"},
    "cloud.google.com/gke-preemptible": {"true": "spot"},
    "cloud.google.com/gke-provisioning": {"spot": "spot"},
    "kubernetes.azure.com/scalesetpriority": {"spot": "spot", "regular": "on-demand"},
    "node-lifecycle": {"spot": "spot", "on-demand": "on-demand"},
}
# Providers that mark spot nodes only: a node of theirs without the mark is on demand.
ON_DEMAND_UNLESS_MARKED = ("cloud.google.com/gke-nodepool", "kubernetes.azure.com/agentpool")

# Labels that say what a pool is, kept when every node of it carries them: its name, its
# capacity, its accelerator (GKE and AKS set theirs; `k8s.amazonaws.com/accelerator` is the
# label cluster-autoscaler's AWS docs ask GPU groups to carry), AKS's system/user mode.
IDENTITY_LABELS = frozenset(
    {
        *POOL_LABELS,
        *CAPACITY_LABELS,
        "cloud.google.com/gke-accelerator",
        "kubernetes.azure.com/accelerator",
        "k8s.amazonaws.com/accelerator",
        "kubernetes.azure.com/mode",
    }
)
# Domains whose labels the platform sets per node or per node image (hostname, zone, instance
# type, image version, GPU feature discovery): a placement that required them would break at
# the next upgrade, or leave out the nodes of another zone or instance type.
PLATFORM_DOMAINS = (
    "kubernetes.io",
    "k8s.io",
    "eks.amazonaws.com",
    "eksctl.io",
    "cloud.google.com",
    "gke.io",
    "kubernetes.azure.com",
    "azure.com",
    "karpenter.sh",
    "k8s.aws",
    "nvidia.com",
    "amd.com",
)
# AKS's deprecated unprefixed spellings of its own labels (reserved-labels-reference.md).
PLATFORM_UNPREFIXED = frozenset({"agentpool", "storageprofile", "storagetier", "accelerator"})

# Taints that come and go with a node's state, never a pool's: node conditions and cordoning
# (`node.kubernetes.io/*`, kubernetes.io/docs/reference/labels-annotations-taints), the cloud
# provider's start-up taint, Karpenter's registration and disruption taints
# (KARP concepts/disruption.md, nodeclaims.md), cluster-autoscaler's scale-down ones (CA FAQ.md).
TRANSIENT_TAINT_PREFIXES = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")
TRANSIENT_TAINTS = frozenset(
    {
        "karpenter.sh/disrupted",
        "karpenter.sh/unregistered",
        "ToBeDeletedByClusterAutoscaler",
        "DeletionCandidateOfClusterAutoscaler",
    }
)
_ZERO = re.compile(r"[+-]?0*(\.0*)?([a-zA-Z]+|[eE][+-]?\d+)?")


class NodeError(Exception):
    """A Node object that cannot be read; the message names it and the field."""


@dataclass(frozen=True)
class Node:
    """What placement needs of one Node."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]  # transient taints left out
    extended: frozenset[str]  # extended resources it offers (a non-zero quantity)

    @property
    def capacity(self) -> tuple[CapacityType | None, str]:
        return capacity_of(self.labels)


def read_node(obj: Mapping[str, Any], source: str) -> Node:
    """A Node object as the API serves it; NodeError when a field has the wrong shape."""
    meta = _mapping(obj.get("metadata"), source, "metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise NodeError(f"{source}: a Node without metadata.name")
    where = f"{source} (node {name})"
    labels = _string_map(meta.get("labels"), where, "metadata.labels")
    spec = _mapping(obj.get("spec"), where, "spec")
    status = _mapping(obj.get("status"), where, "status")
    offered = status.get("allocatable") or status.get("capacity")
    quantities = _string_map(offered, where, "status.allocatable", numbers=True)
    extended = frozenset(
        r for r, q in quantities.items() if is_extended_resource_name(r) and not _ZERO.fullmatch(q)
    )
    taints = tuple(t for t in read_taints(spec.get("taints"), where) if not transient(t[0]))
    return Node(name, labels, taints, extended)


def read_taints(value: Any, where: str, field: str = "spec.taints") -> list[Taint]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise NodeError(f"{where}: {field} must be a list")
    taints = []
    for index, taint in enumerate(value):
        at = f"{field}[{index}]"
        if not isinstance(taint, Mapping):
            raise NodeError(f"{where}: {at} must be an object")
        key, val, effect = taint.get("key"), taint.get("value") or "", taint.get("effect")
        if not isinstance(key, str) or not key or not isinstance(val, str):
            raise NodeError(f"{where}: {at} needs a key and a string value")
        if effect not in EFFECTS:
            raise NodeError(f"{where}: {at}.effect must be one of {', '.join(EFFECTS)}")
        taints.append((key, val, str(effect)))
    return taints


def transient(taint_key: str) -> bool:
    return taint_key in TRANSIENT_TAINTS or taint_key.startswith(TRANSIENT_TAINT_PREFIXES)


def capacity_of(labels: Mapping[str, str]) -> tuple[CapacityType | None, str]:
    """Spot or on demand, from the provider's own label, and the label that says so; None when
    no provider label tells (a self-managed node group, kubeadm)."""
    found: list[tuple[CapacityType, str]] = []
    for key, values in CAPACITY_LABELS.items():
        value = labels.get(key)
        if value is not None and value in values:
            found.append((values[value], f"{key}={value}"))
    for capacity, evidence in found:
        if capacity == "spot":
            return capacity, evidence  # one spot mark is enough: the node can be taken back
    if found:
        return found[0]
    for pool_label in ON_DEMAND_UNLESS_MARKED:
        if pool_label in labels:
            return "on-demand", f"{pool_label}, no spot label"
    return None, "no capacity label"


def pool_label(labels: Mapping[str, str], group_by: Sequence[str] = POOL_LABELS) -> str | None:
    """The first of `group_by` the node carries."""
    return next((key for key in group_by if key in labels), None)


def describes_pool(key: str, value: str) -> bool:
    """Whether a label shared by every node of a pool belongs in its declaration: identity
    labels, and the labels the cluster's own tooling set (a node group's labels, kubelet's
    --node-labels); not those the platform sets per node or per image."""
    if key in IDENTITY_LABELS:
        return True
    if key in PLATFORM_UNPREFIXED:
        return False
    prefix, slash, _ = key.rpartition("/")
    if not slash:
        return True
    return not any(prefix == d or prefix.endswith("." + d) for d in PLATFORM_DOMAINS)


def _mapping(value: Any, where: str, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise NodeError(f"{where}: {field} must be an object")
    return value


def _string_map(value: Any, where: str, field: str, numbers: bool = False) -> dict[str, str]:
    """A map of names to strings (to quantities, which YAML may read as numbers)."""
    out = {}
    for key, item in _mapping(value, where, field).items():
        number = numbers and isinstance(item, int | float) and not isinstance(item, bool)
        if not isinstance(key, str) or not (isinstance(item, str) or number):
            raise NodeError(f"{where}: {field} must map names to strings")
        out[key] = str(item)
    return out
