"""What a workload's review answers: the patch, the RetryPolicy that applies and what it added,
or why nothing was (a warning when the workload goes to spot without the retries it should
have, a note otherwise)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook.workloads.spot import Placement

# Why a RetryPolicy that applies added nothing (the `reason` label of
# placement_webhook_retries_refused_total): the Job's pods restart OnFailure, its
# podFailurePolicy is full, or with the rule the apiserver would refuse the object.
REFUSALS = ("restart-policy", "rule-limit", "invalid")


@dataclass(frozen=True)
class Change:
    """What a kind's addition does to the object: the patch, the object after it, and what
    was added as `--explain` names the parts."""

    ops: list[dict[str, Any]]
    object: Mapping[str, Any]
    added: dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    """Why a kind's addition was not made: one of REFUSALS, and the words of the warning."""

    reason: str
    message: str


@dataclass(frozen=True)
class Judged:
    """One pod the workload's controller will create, and where the set sends it."""

    template: str  # the workflow template it runs ("" for a Job's pod)
    placement: Placement


@dataclass
class WorkloadResult:
    kind: str  # "Job", "CronJob", "Workflow"...
    name: str
    object: Mapping[str, Any]  # after the patch
    ops: list[dict[str, Any]] = field(default_factory=list)
    policy: str | None = None  # the RetryPolicy that applies
    added: dict[str, Any] = field(default_factory=dict)  # as `--explain` names the parts
    refused: str | None = None  # one of REFUSALS, when the policy's retries were not added
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why nothing applies, for people
    judged: list[Judged] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)  # the object's annotation value
