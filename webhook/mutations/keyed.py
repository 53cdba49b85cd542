"""Additions keyed by name (annotations, labels): added only when the key is absent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Conflict:
    """A value a policy wanted for a key the pod already has with another value."""

    what: str
    key: str
    wanted: Any
    existing: Any


def missing_entries(
    what: str, present: Mapping[str, Any], wanted: Mapping[str, str]
) -> tuple[dict[str, str], list[Conflict]]:
    added: dict[str, str] = {}
    conflicts: list[Conflict] = []
    for key, value in wanted.items():
        if key in present:
            if present[key] != value:
                conflicts.append(Conflict(what, key, value, present[key]))
            continue
        added[key] = value
    return added, conflicts
