"""`kind: RetryPolicy`: retries for work the set sends to spot, so that an eviction does not
fail a Job or a workflow run.

A RetryPolicy names the pods it is for (the same `match` and `exclude` as a PlacementPolicy,
judged on the pod the Job or workflow controller will create) and what their Job or workflow
gets when the set sends those pods to a spot pool:

- `jobs: {}`: a Job (or a CronJob's Job template) gains the pod failure policy rule
  `{action: Ignore, onPodConditions: [{type: DisruptionTarget, status: "True"}]}`, after the
  Job's own rules: a pod disrupted by preemption, eviction or node loss is replaced without
  counting against `backoffLimit` (kubernetes.io, "Handling retriable and non-retriable pod
  failures with Pod failure policy").
- `workflows`: an Argo Workflow, CronWorkflow or WorkflowTemplate gains
  `spec.templateDefaults.retryStrategy` (Argo `WorkflowSpec.TemplateDefaults`), so that every
  step without a retryStrategy of its own is retried; `retryPolicy: OnError` retries a step
  whose pod was deleted (evicted, preempted, its node gone) and not one whose code failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from webhook.errors import Problem
from webhook.kube.validation.argo import INT32_MAX, duration_errors
from webhook.policy.base import Metadata, Strict
from webhook.policy.pools import NodePool
from webhook.policy.selectors import MatchSpec

RetryPolicyName = Literal["OnError", "OnTransientError", "Always", "OnFailure"]


class Backoff(Strict):
    """Argo's `retryStrategy.backoff`: how long to wait before each retry."""

    duration: str = Field(
        description="Wait before the first retry: a Go duration (`5m`, `90s`) or a whole "
        "number of seconds (`300`)."
    )
    factor: int | None = Field(
        default=None,
        ge=1,
        le=INT32_MAX,
        description="Each wait is this many times the one before (1 or left out: the same wait).",
    )
    max_duration: str | None = Field(
        default=None,
        alias="maxDuration",
        description="No retry starts once this long has passed since the step first started.",
    )
    cap: str | None = Field(default=None, description="The longest wait between two tries.")

    @field_validator("duration", "max_duration", "cap")
    @classmethod
    def _argo_reads_it(cls, value: str | None) -> str | None:
        for message in duration_errors(value) if value is not None else []:
            raise ValueError(message)
        return value

    def as_argo(self) -> dict[str, Any]:
        out: dict[str, Any] = {"duration": self.duration}
        if self.factor is not None:
            out["factor"] = self.factor
        if self.max_duration is not None:
            out["maxDuration"] = self.max_duration
        if self.cap is not None:
            out["cap"] = self.cap
        return out


class WorkflowRetries(Strict):
    """What `spec.templateDefaults.retryStrategy` a workflow gains."""

    limit: int = Field(
        ge=1, le=INT32_MAX, description="Retries after the first try (Argo's `limit`)."
    )
    retry_policy: RetryPolicyName = Field(
        default="OnError",
        alias="retryPolicy",
        description="`OnError` (default): retry a step whose pod was deleted (evicted, "
        "preempted, node lost) or whose Argo containers failed, never one whose own code "
        "failed. `OnTransientError`, `OnFailure`, `Always`: as Argo defines them.",
    )
    backoff: Backoff | None = Field(default=None, description="Waits between tries.")

    def retry_strategy(self) -> dict[str, Any]:
        """The retryStrategy as the Argo CRD spells it."""
        out: dict[str, Any] = {"limit": self.limit, "retryPolicy": self.retry_policy}
        if self.backoff is not None:
            out["backoff"] = self.backoff.as_argo()
        return out


class JobRetries(Strict):
    """No settings: the rule a Job gains is fixed (see the module docstring)."""


class RetrySpec(Strict):
    order: int = Field(default=100, description="Lower is tried first; ties by name.")
    match: MatchSpec = Field(
        default_factory=MatchSpec,
        description="The pods, as their Job or workflow controller will create them.",
    )
    exclude: tuple[MatchSpec, ...] = Field(
        default=(), description="A pod matching any of these gets no retries from this policy."
    )
    jobs: JobRetries | None = Field(
        default=None,
        description="`{}`: Jobs and CronJobs whose pods go to spot do not count a disrupted "
        "pod against backoffLimit.",
    )
    workflows: WorkflowRetries | None = Field(
        default=None,
        description="Argo Workflows, CronWorkflows and WorkflowTemplates whose step pods go to "
        "spot retry their steps.",
    )

    @model_validator(mode="after")
    def _gives_something(self) -> RetrySpec:
        if self.jobs is None and self.workflows is None:
            raise ValueError("give `jobs`, `workflows` or both: what the retries are for")
        return self


class RetryPolicy(Strict):
    api_version: Literal["pod-placement-webhook/v1"] = Field(alias="apiVersion")
    kind: Literal["RetryPolicy"]
    metadata: Metadata
    spec: RetrySpec

    @property
    def name(self) -> str:
        return self.metadata.name


def needs_a_spot_pool(pools: Mapping[str, NodePool], at: Problem) -> Problem | None:
    """A RetryPolicy acts only on work the set sends to a spot pool: in a set that declares
    none, it could never apply."""
    if any(pool.spot for pool in pools.values()):
        return None
    message = (
        "a RetryPolicy gives retries to work the set sends to a spot pool, and the set declares "
        "no NodePool with capacityType: spot"
    )
    return Problem(at.file, at.document, at.line, at.path, message)
