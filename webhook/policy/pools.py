"""The cluster's node pools, as a policy set declares them (`kind: NodePool`).

A pool is what every one of its nodes has: the labels, the taints, the capacity type and the
extended resources. Kueue's ResourceFlavor (`nodeLabels`, `nodeTaints`) is the model. Policies
place pods on pools by name, and `check` proves against the pools that every pod a set places
can run somewhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from webhook.kube.validation import validate_labels
from webhook.policy.apirules import refuse
from webhook.policy.base import Metadata, Strict, label_key, label_pair

CapacityType = Literal["spot", "on-demand"]


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
        refuse(validate_labels(labels, ()))
        return labels

    @field_validator("extended_resources")
    @classmethod
    def _resources_valid(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for index, name in enumerate(names):
            label_key(name, (index,))
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
