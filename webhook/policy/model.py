"""The policy language: typed, immutable, validated once when a file is loaded.

Field names follow the Kubernetes API they end up in (tolerations, nodeAffinity, dnsConfig), so
a platform engineer can write a policy from what they already know.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from webhook.apivalidation import (
    Key,
    depends_on_the_pod,
    is_checked_annotation,
    validate_annotations,
    validate_label_name,
    validate_labels,
    validate_node_selector_requirement,
    validate_node_selector_requirement_for_scheduler,
    validate_pod_affinity_term,
    validate_pod_dns_config,
    validate_pod_specific_annotations,
    validate_toleration,
)
from webhook.apivalidation.field import forbidden, invalid
from webhook.policy.apirules import refuse
from webhook.workloads import Workload

API_VERSION = "pod-placement-webhook/v1"


QualifiedName = Annotated[str, Field(min_length=1)]


class Strict(BaseModel):
    """Every policy object: unknown fields are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- selectors -----------------------------------------------------------------------------


class SelectorRequirement(Strict):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_fit_operator(self) -> SelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelector(Strict):
    """Kubernetes LabelSelector semantics: every clause must hold; empty matches everything."""

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[SelectorRequirement, ...] = Field(default=(), alias="matchExpressions")


class MatchSpec(Strict):
    """All the clauses given must hold; a clause left out matches every pod."""

    namespaces: tuple[str, ...] = Field(
        default=(), description="Namespace names or shell-style globs (`ml-*`)."
    )
    exclude_namespaces: tuple[str, ...] = Field(default=(), alias="excludeNamespaces")
    pod_selector: LabelSelector | None = Field(default=None, alias="podSelector")
    annotation_selector: LabelSelector | None = Field(
        default=None,
        alias="annotationSelector",
        description="LabelSelector semantics applied to the pod's annotations.",
    )
    namespace_selector: LabelSelector | None = Field(
        default=None,
        alias="namespaceSelector",
        description="LabelSelector on the labels of the pod's Namespace.",
    )
    owner_kinds: tuple[str, ...] = Field(
        default=(),
        alias="ownerKinds",
        description="Kind (`Job`) or group/Kind (`argoproj.io/Workflow`) of the controller owner.",
    )
    workloads: tuple[Workload, ...] = Field(
        default=(), description="Recognised workload kinds (see docs/policies.md)."
    )
    requests: tuple[str, ...] = Field(
        default=(),
        description="Resource names: the pod requests at least one of them (requests or limits).",
    )
    extended_resources: bool | None = Field(
        default=None,
        alias="extendedResources",
        description="true: the pod requests an extended resource (e.g. nvidia.com/gpu); "
        "false: it requests none.",
    )
    placement: Literal["any", "none", "own"] = Field(
        default="any",
        description="`none`: the pod chose no placement itself; `own`: it did; `any`: either.",
    )

    @field_validator("namespaces", "exclude_namespaces", "owner_kinds", "requests")
    @classmethod
    def _no_empty_entries(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if any(not v for v in values):
            raise ValueError("entries must be non-empty strings")
        return values


# --- mutations -----------------------------------------------------------------------------

Effect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Toleration(Strict):
    key: str = ""
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str = ""
    effect: Effect | Literal[""] = ""
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds")

    @model_validator(mode="after")
    def _valid_toleration(self) -> Toleration:
        # Paths are upstream's: a bad value is reported at `operator`.
        refuse(validate_toleration(self.as_k8s(), ()))
        return self

    def as_k8s(self) -> dict[str, object]:
        out: dict[str, object] = {"operator": self.operator}
        if self.key:
            out = {"key": self.key, **out}
        if self.value:
            out["value"] = self.value
        if self.effect:
            out["effect"] = self.effect
        if self.toleration_seconds is not None:
            out["tolerationSeconds"] = self.toleration_seconds
        return out


class NodeSelectorRequirement(Strict):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _valid_requirement(self) -> NodeSelectorRequirement:
        # The apiserver's rule for required terms, and the scheduler's for every term: it
        # fails to schedule a pod whose preferred term has a value it cannot parse.
        requirement = self.as_k8s()
        refuse(validate_node_selector_requirement(requirement, ()))
        refuse(validate_node_selector_requirement_for_scheduler(requirement, ()))
        return self

    def as_k8s(self) -> dict[str, object]:
        out: dict[str, object] = {"key": self.key, "operator": self.operator}
        if self.values:
            out["values"] = list(self.values)
        return out


class PreferredNodeTerm(Strict):
    weight: int = Field(ge=1, le=100)
    match_expressions: tuple[NodeSelectorRequirement, ...] = Field(
        alias="matchExpressions", min_length=1
    )

    def as_k8s(self) -> dict[str, object]:
        return {
            "weight": self.weight,
            "preference": {"matchExpressions": [e.as_k8s() for e in self.match_expressions]},
        }


class NodeAffinity(Strict):
    required: tuple[NodeSelectorRequirement, ...] = Field(
        default=(),
        description="ANDed into every nodeSelectorTerm the pod has (or a new single term).",
    )
    preferred: tuple[PreferredNodeTerm, ...] = ()


class ExtendedResourceTolerations(Strict):
    """The upstream ExtendedResourceToleration admission plugin's rule."""

    resources: tuple[str, ...] = Field(
        default=(), description="Only these extended resources (empty: every extended resource)."
    )
    extra_effects: tuple[Literal["NoExecute", "PreferNoSchedule"], ...] = Field(
        default=(),
        alias="extraEffects",
        description="Also tolerate the resource's taints with these effects.",
    )


class WorkflowPodAffinity(Strict):
    """A preferred podAffinity term scoped to the value of one of the pod's own labels."""

    label_keys: tuple[str, ...] = Field(
        alias="labelKeys",
        min_length=1,
        description="Pod label keys tried in order; the first present scopes the term.",
    )
    weight: int = Field(default=100, ge=1, le=100)
    topology_key: str = Field(default="kubernetes.io/hostname", alias="topologyKey")

    @model_validator(mode="after")
    def _valid_term(self) -> WorkflowPodAffinity:
        # The term built for a pod selects on each key with the pod's own (valid) value.
        for index, key in enumerate(self.label_keys):
            refuse(validate_label_name(key, ("labelKeys", index)))
        refuse(validate_pod_affinity_term({"topologyKey": self.topology_key}, ()))
        return self


class DnsOption(Strict):
    name: str = Field(min_length=1)
    value: str | None = None

    def as_k8s(self) -> dict[str, object]:
        return (
            {"name": self.name} if self.value is None else {"name": self.name, "value": self.value}
        )


class DnsConfig(Strict):
    options: tuple[DnsOption, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid_config(self) -> DnsConfig:
        options = [option.as_k8s() for option in self.options]
        refuse(validate_pod_dns_config({"options": options}, "ClusterFirst", ()))
        return self


class Mutations(Strict):
    extended_resource_tolerations: ExtendedResourceTolerations | None = Field(
        default=None, alias="extendedResourceTolerations"
    )
    tolerations: tuple[Toleration, ...] = ()
    node_affinity: NodeAffinity | None = Field(default=None, alias="nodeAffinity")
    mirror_node_selector: bool = Field(
        default=False,
        alias="mirrorNodeSelector",
        description="Copy the pod's nodeSelector into an equal required nodeAffinity term.",
    )
    workflow_pod_affinity: WorkflowPodAffinity | None = Field(
        default=None, alias="workflowPodAffinity"
    )
    dns_config: DnsConfig | None = Field(default=None, alias="dnsConfig")
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("annotations")
    @classmethod
    def _valid_annotations(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            refuse(validate_annotations({key: text}, (Key(key),)))
            if depends_on_the_pod(key):
                refuse(
                    [
                        forbidden(
                            (Key(key),),
                            "the apiserver checks this annotation against each pod's own fields "
                            "(spec.nodeName, its containers, their securityContext): no value "
                            "is valid for every pod",
                        )
                    ]
                )
        refuse(validate_annotations(value, ()))  # the 256 KiB for this policy alone
        refuse(validate_pod_specific_annotations(value, {}, ()))
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            refuse(validate_labels({key: text}, (Key(key),)))
        return value

    @model_validator(mode="after")
    def _adds_something(self) -> Mutations:
        if not self.model_fields_set:
            raise ValueError("a policy must add something (tolerations, nodeAffinity, ...)")
        return self


class Metadata(Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
    description: str = ""


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


class SettingsSpec(Strict):
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

    @field_validator("annotation_key")
    @classmethod
    def _annotation_key_valid(cls, key: str) -> str:
        refuse(validate_annotations({key: ""}, ()))
        if is_checked_annotation(key):
            refuse(
                [
                    invalid(
                        (),
                        key,
                        "the apiserver gives this annotation a meaning of its own and checks "
                        "its value: it cannot hold the list of policies",
                    )
                ]
            )
        return key


class PolicySettings(Strict):
    """Settings for the whole policy set; at most one per set."""

    api_version: Literal["pod-placement-webhook/v1"] = Field(alias="apiVersion")
    kind: Literal["PolicySettings"]
    metadata: Metadata | None = None
    spec: SettingsSpec = Field(default_factory=SettingsSpec)


Document = Annotated[PlacementPolicy | PolicySettings, Field(discriminator="kind")]
