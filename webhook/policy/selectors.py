"""Which pods a policy is for: label selectors and the match clauses (`spec.match`, `exclude`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from webhook.kube.workloads import Workload
from webhook.policy.base import Strict


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
