"""Karpenter `NodePool` objects (`karpenter.sh/v1`): the pools they launch nodes into.

A NodePool scaled to zero has no node to read, so its pool comes from its template
(aws/karpenter-provider-aws `website/content/en/docs/concepts/nodepools.md`):
`spec.template.metadata.labels` are on every node, `spec.template.spec.taints` too
(`startupTaints` are removed once the node is ready and need no toleration), and each
requirement bounds a well-known label: `karpenter.sh/capacity-type` (on demand only when the
NodePool leaves it out, as the AWS provider's webhook defaults it), the instance family, the
GPU count or manufacturer. Every node of one NodePool carries `karpenter.sh/nodepool=<name>`
and its capacity type in `karpenter.sh/capacity-type` (concepts/scheduling.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook.kube.nodes import KARPENTER_CAPACITY, KARPENTER_POOL, NodeError, Taint, read_taints

API_VERSION = "karpenter.sh/v1"
CAPACITY_TYPES = ("spot", "on-demand")  # `reserved` only where a NodePool names it
NVIDIA = "nvidia.com/gpu"
AMD = "amd.com/gpu"
NEURON = "aws.amazon.com/neuron"
# EC2 instance families and the device each of their instances carries
# (docs.aws.amazon.com/ec2/latest/instancetypes/ac.html: accelerated computing).
FAMILY_RESOURCES: Mapping[str, str] = {
    **dict.fromkeys(
        ("p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "g4dn", "g5", "g5g", "g6", "g6e"),
        NVIDIA,
    ),
    "gr6": NVIDIA,
    "g4ad": AMD,
    **dict.fromkeys(("inf1", "inf2", "trn1", "trn1n", "trn2"), NEURON),
}
MANUFACTURER_RESOURCES = {"nvidia": NVIDIA, "amd": AMD}
GPU_COUNT = "karpenter.k8s.aws/instance-gpu-count"
GPU_MANUFACTURER = "karpenter.k8s.aws/instance-gpu-manufacturer"
ACCELERATOR_MANUFACTURER = "karpenter.k8s.aws/instance-accelerator-manufacturer"
FAMILY = "karpenter.k8s.aws/instance-family"


@dataclass(frozen=True)
class Template:
    """What every node a NodePool launches with one capacity type carries."""

    nodepool: str
    capacity: str  # the karpenter.sh/capacity-type value
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    extended: frozenset[str]


def is_nodepool(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "NodePool" and obj.get("apiVersion") == API_VERSION


def templates(obj: Mapping[str, Any], source: str) -> list[Template]:
    """One Template per capacity type the NodePool allows, in Karpenter's order of preference
    (reserved, spot, on demand)."""
    meta = _map(obj.get("metadata"), source, "metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise NodeError(f"{source}: a NodePool without metadata.name")
    where = f"{source} (NodePool {name})"
    template = _map(_map(obj.get("spec"), where, "spec").get("template"), where, "spec.template")
    spec = _map(template.get("spec"), where, "spec.template.spec")
    template_meta = _map(template.get("metadata"), where, "spec.template.metadata")
    labels = _map(template_meta.get("labels"), where, "spec.template.metadata.labels")
    if not all(isinstance(v, str) for v in labels.values()):
        raise NodeError(f"{where}: spec.template.metadata.labels must map names to strings")
    requirements = _requirements(spec.get("requirements"), where)
    taints = tuple(read_taints(spec.get("taints"), where, "spec.template.spec.taints"))
    fixed = {k: vs[0] for k, (op, vs) in requirements.items() if op == "In" and len(vs) == 1}
    extended = _extended(requirements)
    return [
        Template(
            name,
            capacity,
            {**fixed, **labels, KARPENTER_POOL: name, KARPENTER_CAPACITY: capacity},
            taints,
            extended,
        )
        for capacity in capacity_types(requirements.get(KARPENTER_CAPACITY))
    ]


def capacity_types(requirement: tuple[str, list[str]] | None) -> list[str]:
    if requirement is None:
        return ["on-demand"]
    operator, values = requirement
    if operator == "In":
        return [c for c in ("reserved", *CAPACITY_TYPES) if c in values]
    if operator == "NotIn":
        return [c for c in CAPACITY_TYPES if c not in values]
    if operator == "Exists":
        return list(CAPACITY_TYPES)
    return []


def _extended(requirements: Mapping[str, tuple[str, list[str]]]) -> frozenset[str]:
    """The devices every instance the requirements allow carries."""
    found: set[str] = set()
    operator, values = requirements.get(FAMILY, ("", []))
    if operator == "In" and values and all(v in FAMILY_RESOURCES for v in values):
        found.update(FAMILY_RESOURCES[v] for v in values)
    for key in (GPU_MANUFACTURER, ACCELERATOR_MANUFACTURER):
        operator, values = requirements.get(key, ("", []))
        names = {**MANUFACTURER_RESOURCES, "aws": NEURON}
        if operator == "In" and values and all(v in names for v in values):
            found.update(names[v] for v in values)
    operator, values = requirements.get(GPU_COUNT, ("", []))
    if not found & {NVIDIA, AMD} and _positive(operator, values):
        found.add(NVIDIA)  # a GPU of no named make: NVIDIA's are the only ones EC2 pairs with most
    return frozenset(found)


def _positive(operator: str, values: Sequence[str]) -> bool:
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        return False
    if operator == "Gt":
        return bool(numbers) and numbers[0] >= 0
    return operator == "In" and bool(numbers) and min(numbers) > 0


def _requirements(value: Any, where: str) -> dict[str, tuple[str, list[str]]]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise NodeError(f"{where}: spec.template.spec.requirements must be a list")
    out: dict[str, tuple[str, list[str]]] = {}
    for index, req in enumerate(value):
        if not isinstance(req, Mapping) or not isinstance(req.get("key"), str):
            raise NodeError(f"{where}: requirements[{index}] needs a key")
        values = req.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise NodeError(f"{where}: requirements[{index}].values must be a list of strings")
        out[req["key"]] = (str(req.get("operator") or ""), values)
    return out


def _map(value: Any, where: str, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise NodeError(f"{where}: {field} must be an object")
    return value
