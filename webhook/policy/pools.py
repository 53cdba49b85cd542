"""The cluster's node pools, as a policy set declares them (`kind: NodePool`).

A pool is what every one of its nodes has: the labels, the taints, the capacity type and the
extended resources. Kueue's ResourceFlavor (`nodeLabels`, `nodeTaints`) is the model. Policies
place pods on pools by name, and `check` proves against the pools that every pod a set places
can run somewhere. How the set's pools are told apart by their labels is `pool_labels`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from webhook.kube.resources import is_extended_resource_name
from webhook.kube.validation import Key, validate_labels
from webhook.kube.validation.field import DUPLICATE, FieldError, invalid
from webhook.policy.apirules import refuse
from webhook.policy.base import Metadata, Strict, label_key, label_pair

CapacityType = Literal["spot", "on-demand"]

# The label each provider puts on a node to say how it was bought, and what its values mean
# (docs/policies.md cites the sources). Reserved capacity (an EKS Capacity Block, a Karpenter
# capacity reservation) is not taken back at random: it counts as on-demand.
CAPACITY_LABELS: dict[str, tuple[str, dict[str, CapacityType]]] = {
    "eks.amazonaws.com/capacityType": (
        "EKS (managed node groups)",
        {"SPOT": "spot", "ON_DEMAND": "on-demand", "CAPACITY_BLOCK": "on-demand"},
    ),
    "node-lifecycle": (
        "eksctl (self-managed node groups)",
        {"spot": "spot", "on-demand": "on-demand"},
    ),
    "karpenter.sh/capacity-type": (
        "Karpenter",
        {"spot": "spot", "on-demand": "on-demand", "reserved": "on-demand"},
    ),
    "cloud.google.com/gke-spot": ("GKE (Spot VMs)", {"true": "spot"}),
    "cloud.google.com/gke-provisioning": ("GKE (Spot VMs)", {"spot": "spot"}),
    "cloud.google.com/gke-preemptible": ("GKE (preemptible VMs)", {"true": "spot"}),
    "kubernetes.azure.com/scalesetpriority": ("AKS (spot node pools)", {"spot": "spot"}),
}


class Taint(Strict):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    @model_validator(mode="after")
    def _valid_taint(self) -> Taint:
        # validateTaints (pkg/apis/core/validation/validation.go): a qualified-name key and a
        # label value.
        label_pair(self.key, self.value)
        return self

    def __str__(self) -> str:
        return (
            f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"
        )


class NodePoolSpec(Strict):
    node_labels: dict[str, str] = Field(
        alias="nodeLabels",
        min_length=1,
        description="Labels every node of the pool carries; a pod is placed on the pool by "
        "requiring all of them.",
    )
    node_taints: tuple[Taint, ...] = Field(
        default=(),
        alias="nodeTaints",
        description="Taints every node of the pool carries; a pod placed on the pool tolerates "
        "them.",
    )
    capacity_type: CapacityType = Field(
        alias="capacityType", description="`spot` nodes can be taken back at any time."
    )
    extended_resources: tuple[str, ...] = Field(
        default=(),
        alias="extendedResources",
        description="Extended resources the pool's nodes offer, e.g. nvidia.com/gpu.",
    )

    @field_validator("node_labels")
    @classmethod
    def _labels_valid(cls, labels: dict[str, str]) -> dict[str, str]:
        refuse(validate_labels(labels, ()))
        refuse([e for key in labels if (e := _capacity_label_case(key, labels[key]))])
        return labels

    @field_validator("node_taints")
    @classmethod
    def _taints_unique(cls, taints: tuple[Taint, ...]) -> tuple[Taint, ...]:
        # validateNodeTaints (pkg/apis/core/validation/validation.go) refuses a Node with two
        # taints of one key and effect, whatever their values: no node of the pool has both.
        seen: set[tuple[str, str]] = set()
        for index, taint in enumerate(taints):
            if (taint.key, taint.effect) in seen:
                detail = "taints must be unique by key and effect pair: no Node can have both"
                refuse([FieldError((index,), DUPLICATE, detail, str(taint))])
            seen.add((taint.key, taint.effect))
        return taints

    @field_validator("extended_resources")
    @classmethod
    def _resources_valid(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for index, name in enumerate(names):
            label_key(name, (index,))
            if not is_extended_resource_name(name):
                refuse([invalid((index,), name, _not_extended(name))])
        return names

    @model_validator(mode="after")
    def _capacity_agrees_with_the_provider(self) -> NodePoolSpec:
        for key, value in self.node_labels.items():
            provider, meanings = CAPACITY_LABELS.get(key, ("", {}))
            meant = meanings.get(value)
            if meant is not None and meant != self.capacity_type:
                detail = (
                    f"the pool's nodes carry {key}={value}, which {provider} sets on {meant} nodes"
                )
                refuse([invalid(("capacityType",), self.capacity_type, detail)])
        return self


def _capacity_label_case(key: str, value: str) -> FieldError | None:
    """A provider's capacity label with a value it writes in another case: labels are
    case-sensitive, so no node carries it (`eks.amazonaws.com/capacityType: spot`)."""
    provider, meanings = CAPACITY_LABELS.get(key, ("", {}))
    if "/" not in key or value in meanings:
        return None  # `node-lifecycle` is also set by hand, in any case
    written = [v for v in meanings if v.lower() == value.lower()]
    if not written:
        return None
    detail = f"{provider} sets {written[0]}: labels are case-sensitive, so no node carries this"
    return invalid((Key(key),), value, detail)


def _not_extended(name: str) -> str:
    """Why `name` is not an extended resource (`helper.IsExtendedResourceName`,
    pkg/apis/core/helper/helpers.go): the scheduler counts it as a node's own resource."""
    if "/" not in name:
        return (
            "not an extended resource: a name without a domain is one of the node's own "
            "resources (cpu, memory, ephemeral-storage, hugepages-<size>, pods)"
        )
    if "kubernetes.io/" in name:
        return (
            "not an extended resource: names in kubernetes.io/ and its subdomains are "
            "Kubernetes' own resources"
        )
    if name.startswith("requests."):
        return "not an extended resource: a name starting with requests. is a quota's"
    # A qualified name already: only `requests.<domain>` passing 253 characters is left.
    return (
        "not an extended resource: its domain is over 244 characters, and requests.<domain> "
        "must fit in 253"
    )


class NodePool(Strict):
    api_version: Literal["pod-placement-webhook/v1"] = Field(alias="apiVersion")
    kind: Literal["NodePool"]
    metadata: Metadata
    spec: NodePoolSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def spot(self) -> bool:
        return self.spec.capacity_type == "spot"
