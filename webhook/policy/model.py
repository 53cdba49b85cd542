"""The policy language: typed, immutable, validated once when a file is loaded.

Field names follow the Kubernetes API they end up in (tolerations, nodeAffinity, dnsConfig), so
a platform engineer can write a policy from what they already know.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from webhook.kube.pod import PLATFORM_LABEL_KEYS
from webhook.kube.workloads import Workload

API_VERSION = "pod-placement-webhook/v1"

# Kubernetes qualified names (label keys, annotation keys, taint keys):
# an optional DNS-subdomain prefix and a name of 1-63 characters.
_NAME_PART = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_QUALIFIED_NAME = re.compile(rf"^({_DNS_SUBDOMAIN}/)?{_NAME_PART}$")
_LABEL_VALUE = re.compile(rf"^({_NAME_PART})?$")


def check_qualified_name(value: str) -> str:
    prefix, _, _ = value.rpartition("/")
    if not _QUALIFIED_NAME.match(value) or len(prefix) > 253:
        raise ValueError(
            f"{value!r} is not a valid Kubernetes key: an optional DNS prefix and '/', then 1-63 "
            "alphanumerics, '-', '_' or '.'"
        )
    return value


def check_label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(f"{value!r} is not a valid label value (at most 63 characters)")
    return value


QualifiedName = Annotated[str, Field(min_length=1)]


class Strict(BaseModel):
    """Every policy object: unknown fields are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- selectors -----------------------------------------------------------------------------


class SelectorRequirement(Strict):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    def as_k8s(self) -> dict[str, object]:
        out: dict[str, object] = {"key": self.key, "operator": self.operator}
        if self.values:
            out["values"] = list(self.values)
        return out

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

    def as_k8s(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            out["matchExpressions"] = [e.as_k8s() for e in self.match_expressions]
        return out


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
    queued: bool | None = Field(
        default=None,
        description="true: Kueue admits the pod and its ResourceFlavor places it (a "
        "kueue.x-k8s.io queue or podset label, or Kueue's scheduling gate); false: it does not.",
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
        if self.key:
            check_qualified_name(self.key)
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists takes no value")
        if not self.key and self.operator != "Exists":
            raise ValueError("an empty key needs operator Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds is only allowed with effect NoExecute")
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
    def _values_fit_operator(self) -> NodeSelectorRequirement:
        check_qualified_name(self.key)
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        if self.operator in ("Gt", "Lt") and (
            len(self.values) != 1 or not self.values[0].lstrip("-").isdigit()
        ):
            raise ValueError(f"operator {self.operator} needs exactly one integer value")
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

    @field_validator("label_keys")
    @classmethod
    def _keys_valid(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            check_qualified_name(key)
        return keys

    @field_validator("topology_key")
    @classmethod
    def _topology_valid(cls, key: str) -> str:
        return check_qualified_name(key)


class TopologySpreadConstraint(Strict):
    """A pod topology spread constraint (pkg/apis/core/types.go `TopologySpreadConstraint`)."""

    max_skew: int = Field(alias="maxSkew", ge=1, le=2**31 - 1)
    topology_key: str = Field(alias="topologyKey")
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"] = Field(
        alias="whenUnsatisfiable"
    )
    label_selector: LabelSelector | None = Field(default=None, alias="labelSelector")
    match_label_keys: tuple[str, ...] = Field(
        default=(),
        alias="matchLabelKeys",
        description="Pod label keys whose values, taken from the incoming pod by the scheduler, "
        "scope the spread to the pod's own group (its workflow, its ReplicaSet).",
    )
    min_domains: int | None = Field(default=None, alias="minDomains", ge=1, le=2**31 - 1)
    node_affinity_policy: Literal["Honor", "Ignore"] | None = Field(
        default=None, alias="nodeAffinityPolicy"
    )
    node_taints_policy: Literal["Honor", "Ignore"] | None = Field(
        default=None, alias="nodeTaintsPolicy"
    )

    @model_validator(mode="after")
    def _valid_constraint(self) -> TopologySpreadConstraint:
        # validateTopologySpreadConstraints (pkg/apis/core/validation/validation.go)
        check_qualified_name(self.topology_key)
        for key in self.match_label_keys:
            check_qualified_name(key)
        if self.min_domains is not None and self.when_unsatisfiable != "DoNotSchedule":
            raise ValueError("minDomains is only allowed with whenUnsatisfiable DoNotSchedule")
        if len(set(self.match_label_keys)) != len(self.match_label_keys):
            raise ValueError("matchLabelKeys lists a key twice")
        return self

    def as_k8s(self) -> dict[str, object]:
        out: dict[str, object] = {
            "maxSkew": self.max_skew,
            "topologyKey": self.topology_key,
            "whenUnsatisfiable": self.when_unsatisfiable,
        }
        if self.label_selector is not None:
            out["labelSelector"] = self.label_selector.as_k8s()
        if self.match_label_keys:
            out["matchLabelKeys"] = list(self.match_label_keys)
        if self.min_domains is not None:
            out["minDomains"] = self.min_domains
        if self.node_affinity_policy is not None:
            out["nodeAffinityPolicy"] = self.node_affinity_policy
        if self.node_taints_policy is not None:
            out["nodeTaintsPolicy"] = self.node_taints_policy
        return out


class DnsOption(Strict):
    name: str = Field(min_length=1)
    value: str | None = None

    def as_k8s(self) -> dict[str, object]:
        return (
            {"name": self.name} if self.value is None else {"name": self.name, "value": self.value}
        )


class DnsConfig(Strict):
    options: tuple[DnsOption, ...] = Field(min_length=1)


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
    pool: str | None = Field(
        default=None,
        description="Place the pod on this NodePool: its labels as required node affinity, "
        "its taints tolerated.",
    )
    pools: tuple[str, ...] = Field(
        default=(),
        description="An ordered preference of NodePools (e.g. spot first, on-demand fallback): "
        "the pod must land on one of them and prefers the earlier ones.",
    )
    workflow_pod_affinity: WorkflowPodAffinity | None = Field(
        default=None, alias="workflowPodAffinity"
    )
    topology_spread_constraints: tuple[TopologySpreadConstraint, ...] = Field(
        default=(),
        alias="topologySpreadConstraints",
        description="Appended unless the pod has an equal one; a constraint on the same "
        "topologyKey and whenUnsatisfiable as one of the pod's own is not added.",
    )
    dns_config: DnsConfig | None = Field(default=None, alias="dnsConfig")
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_pool_placement(self) -> Mutations:
        if self.pool is not None and self.pools:
            raise ValueError("give `pool` or `pools`, not both")
        if len(self.pools) == 1:
            raise ValueError("`pools` is a preference of two or more pools: use `pool` for one")
        if len(set(self.pools)) != len(self.pools):
            raise ValueError("`pools` names a pool twice")
        return self

    @field_validator("annotations")
    @classmethod
    def _annotation_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            check_qualified_name(key)
        return value

    @field_validator("labels")
    @classmethod
    def _label_pairs(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            check_qualified_name(key)
            check_label_value(val)
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


class KueueSettings(Strict):
    placement: Literal["leave", "place"] = Field(
        default="leave",
        description="`leave`: no placement is added to pods Kueue places (its ResourceFlavor "
        "adds the flavor's nodeSelector at admission); `place`: they are placed like any pod.",
    )


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

    @field_validator("annotation_key")
    @classmethod
    def _annotation_key_valid(cls, key: str) -> str:
        return check_qualified_name(key)

    @field_validator("platform_label_keys")
    @classmethod
    def _platform_keys_valid(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            check_qualified_name(key)
        return keys


class PolicySettings(Strict):
    """Settings for the whole policy set; at most one per set."""

    api_version: Literal["pod-placement-webhook/v1"] = Field(alias="apiVersion")
    kind: Literal["PolicySettings"]
    metadata: Metadata | None = None
    spec: SettingsSpec = Field(default_factory=SettingsSpec)
