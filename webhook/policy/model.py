"""The policy language's documents: PlacementPolicy and PolicySettings (NodePool is in
`pools`); typed, immutable, validated once when a file is loaded. The parts they are made of
live in `selectors` (which pods) and `add` (what is added); their names are re-exported here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from webhook.kube.pod import PLATFORM_LABEL_KEYS
from webhook.kube.validation import (
    is_checked_annotation,
    validate_annotations,
    validate_label_name,
)
from webhook.kube.validation.field import invalid
from webhook.policy.add import (
    DnsConfig,
    DnsOption,
    ExtendedResourceTolerations,
    Mutations,
    NodeAffinity,
    NodeSelectorRequirement,
    PreferredNodeTerm,
    Toleration,
    TopologySpreadConstraint,
    WorkflowPodAffinity,
)
from webhook.policy.apirules import refuse
from webhook.policy.base import API_VERSION, Metadata, Strict
from webhook.policy.selectors import LabelSelector, MatchSpec, SelectorRequirement

__all__ = [
    "API_VERSION",
    "DnsConfig",
    "DnsOption",
    "ExtendedResourceTolerations",
    "KueueSettings",
    "LabelSelector",
    "MatchSpec",
    "Metadata",
    "Mutations",
    "NodeAffinity",
    "NodeSelectorRequirement",
    "PlacementPolicy",
    "PolicySettings",
    "PolicySpec",
    "PreferredNodeTerm",
    "SelectorRequirement",
    "SettingsSpec",
    "Strict",
    "Toleration",
    "TopologySpreadConstraint",
    "WorkflowPodAffinity",
]


class PolicySpec(Strict):
    order: int = Field(default=100, description="Lower runs first; ties run by name.")
    mode: Literal["enforce", "audit"] = Field(
        default="enforce", description="`audit`: compute and report, change nothing."
    )
    match: MatchSpec = Field(default_factory=MatchSpec)
    exclude: tuple[MatchSpec, ...] = Field(
        default=(), description="A pod matching any of these is left alone."
    )
    add: Mutations


class PlacementPolicy(Strict):
    api_version: Literal["pod-placement-webhook/v1"] = Field(alias="apiVersion")
    kind: Literal["PlacementPolicy"]
    metadata: Metadata
    spec: PolicySpec

    @property
    def name(self) -> str:
        return self.metadata.name


class KueueSettings(Strict):
    placement: Literal["leave", "place"] = Field(
        default="leave",
        description="`leave`: no placement is added to pods Kueue places (its ResourceFlavor "
        "adds the flavor's nodeSelector at admission); `place`: they are placed like any pod.",
    )


class SettingsSpec(Strict):
    mode: Literal["enforce", "audit"] = Field(
        default="enforce",
        description="`audit`: the whole set is a dry run. Every review is computed as in "
        "`enforce` and answered without a patch; its warnings, audit annotation, log line and "
        "metrics report what it would have added. `serve --audit` does the same whatever this "
        "says.",
    )
    placement_excluded_namespaces: tuple[str, ...] = Field(
        default=("kube-system", "kube-public", "kube-node-lease"),
        alias="placementExcludedNamespaces",
        description="Namespaces (names or globs) where only extendedResourceTolerations apply.",
    )
    annotation_key: str = Field(
        default="pod-placement-webhook/policies",
        alias="annotationKey",
        description="Pod annotation that lists the policies that changed the pod.",
    )
    keep_off_spot: tuple[MatchSpec, ...] = Field(
        default=(
            MatchSpec(
                workloads=("notebook", "jupyterhub", "model-server", "data-store", "statefulset")
            ),
            MatchSpec(
                annotation_selector=LabelSelector(
                    match_labels={"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
                )
            ),
        ),
        alias="keepOffSpot",
        description="Pods that must never run on spot only (each entry a match clause). With "
        "NodePools declared, `check` proves that no pod of these the set places fits only spot "
        "pools.",
    )
    kueue: KueueSettings = Field(
        default_factory=KueueSettings, description="Pods that Kueue admits and places."
    )
    platform_label_keys: tuple[str, ...] = Field(
        default=PLATFORM_LABEL_KEYS,
        alias="platformLabelKeys",
        description="Node label keys that describe the node's platform, not a pool: a "
        "nodeSelector or node-affinity term on these keys only is no placement of the pod's own.",
    )

    @property
    def refused_annotation_key(self) -> str:
        """The pod annotation that lists the policies whose placement was refused (beside
        `annotationKey`, under the same prefix)."""
        prefix = self.annotation_key.rpartition("/")[0]
        return f"{prefix}/placement-refused" if prefix else "placement-refused"

    @field_validator("annotation_key")
    @classmethod
    def _annotation_key_valid(cls, key: str) -> str:
        errors = validate_annotations({key: ""}, ())
        if is_checked_annotation(key):
            errors.append(
                invalid(
                    (),
                    key,
                    "the apiserver gives this annotation a meaning of its own and checks "
                    "its value: it cannot hold the list of policies",
                )
            )
        refuse(errors)
        return key

    @field_validator("platform_label_keys")
    @classmethod
    def _platform_keys_valid(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        refuse([e for index, key in enumerate(keys) for e in validate_label_name(key, (index,))])
        return keys


class PolicySettings(Strict):
    """Settings for the whole policy set; at most one per set."""

    api_version: Literal["pod-placement-webhook/v1"] = Field(alias="apiVersion")
    kind: Literal["PolicySettings"]
    metadata: Metadata | None = None
    spec: SettingsSpec = Field(default_factory=SettingsSpec)
