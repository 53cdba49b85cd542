"""The state of one review on its way through the policies, shared by the passes (`run`) and
the steps of one policy (`steps`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webhook import patch
from webhook.engine.compile import CompiledPolicy, CompiledPolicySet
from webhook.engine.judge import Breach, Placement
from webhook.engine.result import Additions, PolicyOutcome
from webhook.match.facts import PodFacts
from webhook.mutations.kind import Conflict

WARNING_LIMIT = 120  # characters; the Kubernetes docs advise short warnings


@dataclass(slots=True)
class Run:
    """One pod on its way through the policies: what they did so far."""

    compiled: CompiledPolicySet
    facts: PodFacts  # facts.pod: the pod as the policies so far left it
    placement_blocked: str | None  # why no placement kind may add anything
    choice_blocked: str | None = None  # why no kind that chooses nodes may add anything
    ops: list[patch.Op] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    outcomes: list[PolicyOutcome] = field(default_factory=list)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)  # (noun, key) -> policy
    # Policies whose node choices the final judgement took back, and why: set before the run
    # (an earlier run of this review, or an earlier call, found the breach).
    stripped: dict[str, Breach] = field(default_factory=dict)
    placements: list[Placement] = field(default_factory=list)  # commits that chose nodes
    skipped: list[str] = field(default_factory=list)  # namespace labels unknown
    invalid: list[str] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)  # the policies the pod's annotation lists
    # The fixed point: the stale facts of each commit in order; per policy, len(changed) when
    # it last ran and the facts that could change its verdict (none once it is done: applied,
    # audited, failed or refused); whether one ran twice.
    changed: list[set[str]] = field(default_factory=list)
    before: list[dict[str, Any]] = field(default_factory=list)  # VALUE_FACTS before each commit
    tried: dict[str, tuple[int, frozenset[str]]] = field(default_factory=dict)
    retried: bool = False

    def candidates(self) -> list[CompiledPolicy]:
        """The policies the index offers for the pod as it is now."""
        return self.compiled.candidates(self.facts.namespace, self.facts.labels)


@dataclass(slots=True)
class Computed:
    """What one policy adds to the pod as it is now: the additions, and their patch."""

    additions: Additions
    conflicts: list[Conflict]
    ops: list[patch.Op]
    pod: patch.Doc
    stale: set[str]
    refused_by_apiserver: str | None = None  # the first rule its additions would break


def short(text: str) -> str:
    return text if len(text) <= WARNING_LIMIT else text[: WARNING_LIMIT - 3] + "..."
