"""What a policy adds (`spec.add`): each value checked as the apiserver will check the pod it
ends up in (`webhook.kube.validation`), so no policy that loads can make a pod's creation fail.
Field names follow the Kubernetes API they end up in (tolerations, nodeAffinity, dnsConfig)."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field, field_validator, model_validator

from webhook.kube.validation import (
    Key,
    depends_on_the_pod,
    validate_annotations,
    validate_label_name,
    validate_labels,
    validate_node_selector_requirement,
    validate_node_selector_requirement_for_scheduler,
    validate_pod_affinity_term,
    validate_pod_dns_config,
    validate_pod_specific_annotations,
    validate_toleration,
    validate_topology_spread_constraints,
)
from webhook.kube.validation.field import forbidden
from webhook.policy.apirules import refuse
from webhook.policy.base import Strict, label_key
from webhook.policy.selectors import LabelSelector

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
        refuse(
            validate_node_selector_requirement(requirement, ())
            + validate_node_selector_requirement_for_scheduler(requirement, ())
        )
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
        errors = [
            error
            for index, key in enumerate(self.label_keys)
            for error in validate_label_name(key, ("labelKeys", index))
        ]
        refuse(errors + validate_pod_affinity_term({"topologyKey": self.topology_key}, ()))
        return self


class TopologySpreadConstraint(Strict):
    """A pod topology spread constraint (pkg/apis/core/types.go `TopologySpreadConstraint`)."""

    max_skew: int = Field(alias="maxSkew", ge=1, le=2**31 - 1)
    topology_key: str = Field(
        alias="topologyKey",
        description="A node label key (a qualified name): nodes with one value of it are one "
        "domain.",
    )
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
        # One constraint checked as a list of one: the paths start at its index, dropped here.
        errors = validate_topology_spread_constraints([self.as_k8s()], ())
        refuse([replace(e, path=e.path[1:]) for e in errors])
        # kube-apiserver only requires a topologyKey to be non-empty, but it names a node
        # label, and no node carries a label whose key is not a qualified name: every pod the
        # constraint is added to would stay Pending (PodTopologySpread's Filter refuses a node
        # without the key).
        label_key(self.topology_key, ("topologyKey",))
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
    def _valid_annotations(cls, value: dict[str, str]) -> dict[str, str]:
        errors = []
        for key, text in value.items():
            errors += validate_annotations({key: text}, (Key(key),))
            if depends_on_the_pod(key):
                errors.append(
                    forbidden(
                        (Key(key),),
                        "the apiserver checks this annotation against each pod's own fields "
                        "(spec.nodeName, its containers, their securityContext): no value "
                        "is valid for every pod",
                    )
                )
        if not errors:  # the whole map's rules, once each entry is valid
            errors += validate_annotations(value, ())  # the 256 KiB for this policy alone
            errors += validate_pod_specific_annotations(value, {}, ())
        refuse(errors)
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        refuse(
            [e for key, text in value.items() for e in validate_labels({key: text}, (Key(key),))]
        )
        return value

    @model_validator(mode="after")
    def _adds_something(self) -> Mutations:
        if not self.model_fields_set:
            raise ValueError("a policy must add something (tolerations, nodeAffinity, ...)")
        return self
