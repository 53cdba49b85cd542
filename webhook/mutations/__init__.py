"""What a policy can add to a pod: one module per kind (see `kind.py` for the contract).

Kinds are found by looking at the modules of this package: a new kind is its module and its
field in the policy model, nothing else. Every field of the model's `add` section must be read
by some kind, or importing this package fails (a field nobody applies would be ignored
silently).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, get_args

from pydantic import BaseModel

from webhook.mutations.kind import MutationKind
from webhook.policy.model import Mutations


def _field_position(dotted: str) -> tuple[int, ...]:
    """Where a (dotted) field is declared in the Mutations model: (field, sub-field, ...)."""
    model: Any = Mutations
    position = []
    for part in dotted.split("."):
        names = list(model.model_fields)
        position.append(names.index(part))
        annotation = model.model_fields[part].annotation
        model = next(
            (a for a in (annotation, *get_args(annotation)) if _is_model(a)),
            None,
        )
    return tuple(position)


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _discover() -> tuple[MutationKind[Any], ...]:
    kinds: list[MutationKind[Any]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if isinstance(kind, MutationKind):
            kinds.append(kind)
    read = {r.split(".")[0] for kind in kinds for r in kind.reads}
    unread = [name for name in Mutations.model_fields if name not in read]
    if unread:
        raise RuntimeError(f"policy fields no mutation kind applies: {', '.join(unread)}")
    return tuple(sorted(kinds, key=lambda k: min(_field_position(r) for r in k.reads)))


KINDS: tuple[MutationKind[Any], ...] = _discover()

__all__ = ["KINDS", "MutationKind"]
