"""The cluster's node pools, as a policy set declares them (`kind: NodePool`).

A pool is what every one of its nodes has: the labels, the taints, the capacity type and the
extended resources. Kueue's ResourceFlavor (`nodeLabels`, `nodeTaints`) is the model. Policies
place pods on pools by name, and `check` proves against the pools that every pod a set places
can run somewhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from webhook.policy.model import Metadata, Strict, check_label_value, check_qualified_name

CapacityType = Literal["spot", "on-demand"]


class Taint(Strict):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    @field_validator("key")
    @classmethod
    def _key_valid(cls, key: str) -> str:
        return check_qualified_name(key)

    @field_validator("value")
    @classmethod
    def _value_valid(cls, value: str) -> str:
        return check_label_value(value)

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}"


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
        for key, value in labels.items():
            check_qualified_name(key)
            check_label_value(value)
        return labels

    @field_validator("extended_resources")
    @classmethod
    def _resources_valid(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            check_qualified_name(name)
        return names


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
