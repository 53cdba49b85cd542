"""What the engine answers: the patch, and per policy what it matched and added (for the
response's warnings, the logs and metrics, `--explain` and policy tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook.engine.judge import Breach, Placement
from webhook.mutations.kind import Items, MutationKind


@dataclass(slots=True)
class Additions:
    """What one policy adds to one pod: each kind's items, in the order kinds run."""

    by_kind: list[tuple[MutationKind[Any], Items]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.by_kind)

    def as_dict(self) -> dict[str, Any]:
        """The parts added, named as `--explain` shows them (`nodeAffinity.required`); two
        kinds that add to one part (`extendedResourceTolerations` and `tolerations`) share it."""
        out: dict[str, Any] = {}
        for kind, items in self.by_kind:
            shown = kind.shown(items)
            name = kind.shown_as
            if name not in out:
                out[name] = shown
            elif isinstance(shown, dict):
                out[name] = {**out[name], **shown}
            else:
                out[name] = [*out[name], *shown]
        return out


@dataclass(slots=True)
class PolicyOutcome:
    """One policy's verdict on one pod."""

    name: str
    mode: str
    matched: bool
    clause: str | None = None  # when not matched: the clause that did not hold
    reason: str | None = None  # and why, for people
    additions: Additions = field(default_factory=Additions)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    position: int = 0  # the policy's place in the set


@dataclass
class Result:
    ops: list[dict[str, Any]]
    applied: list[str]
    warnings: list[str]
    outcomes: list[PolicyOutcome]
    pod: Mapping[str, Any]
    audited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Policies whose node choices the final judgement took back in this call, and why.
    refused: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # not applied: the apiserver would refuse
    # The policies that changed the pod, earlier calls' first (its provenance annotation).
    provenance: list[str] = field(default_factory=list)
    breaches: dict[str, Breach] = field(default_factory=dict)  # refused: the intent it broke
    skipped: list[str] = field(default_factory=list)  # namespace labels unknown
    placements: list[Placement] = field(default_factory=list)  # commits that chose nodes

    @property
    def failed(self) -> list[str]:
        """Policies skipped because they failed on this pod."""
        return [o.name for o in self.outcomes if o.error]
