"""The policy model's bridge to the ported kube-apiserver rules (`webhook.kube.validation`).

A value a policy adds is checked with the same function the apiserver would run on the pod it
ends up in. Every error it finds is raised in one pydantic error (a validator raises once), whose
context carries each error's path inside the validated object and its message, so the loader
reports each one at its exact field and line, as apimachinery's `field.ErrorList` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_core import ErrorDetails, PydanticCustomError

from webhook.kube.validation import FieldError, Key

ERROR_TYPE = "kubernetes"
FieldPath = tuple[str | int, ...]  # map keys as plain names: the YAML keys of the document


def refuse(errors: Sequence[FieldError]) -> None:
    """Raise every error, if any, in one pydantic error (its message is the first's)."""
    # Two rules can find the same fault: reported once.
    found = tuple(dict.fromkeys((_plain(e.path), e.body()) for e in errors))
    if not found:
        return
    raise PydanticCustomError(ERROR_TYPE, "{detail}", {"detail": found[0][1], "errors": found})


def field_errors(error: ErrorDetails) -> list[tuple[FieldPath, str]]:
    """Each error `refuse` put in a pydantic error: its path inside the validated object and its
    message; [] for any other pydantic error."""
    if error["type"] != ERROR_TYPE:
        return []
    found: tuple[tuple[FieldPath, str], ...] = error.get("ctx", {}).get("errors", ())
    return list(found)


def _plain(path: Sequence[object]) -> FieldPath:
    return tuple(step.name if isinstance(step, Key) else step for step in path)  # type: ignore[misc]
