"""The policy model's bridge to the ported kube-apiserver rules (`webhook.kube.validation`).

A value a policy adds is checked with the same function the apiserver would run on the pod it
ends up in; the first error is raised as a pydantic error whose context carries its path
inside the validated object, so the loader can name the exact field and its line.
"""

from __future__ import annotations

from pydantic_core import ErrorDetails, PydanticCustomError

from webhook.kube.validation import FieldError, Key

ERROR_TYPE = "kubernetes"


def refuse(errors: list[FieldError]) -> None:
    """Raise the first error, if any. Its path (map keys as plain names) is in ctx['path']."""
    if not errors:
        return
    first = errors[0]
    path = tuple(step.name if isinstance(step, Key) else step for step in first.path)
    raise PydanticCustomError(ERROR_TYPE, "{detail}", {"detail": first.body(), "path": path})


def error_path(error: ErrorDetails) -> tuple[str | int, ...]:
    """The path inside the validated object that `refuse` put in a pydantic error's context."""
    if error["type"] != ERROR_TYPE:
        return ()
    path: tuple[str | int, ...] = error.get("ctx", {}).get("path", ())
    return path
