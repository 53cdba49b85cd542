"""Validation errors as data, after apimachinery's `pkg/util/validation/field`.

An error carries the path of the field it is about, as a tuple, and its message separately;
whoever shows it (the policy loader, a test, a warning) formats it. `Key` marks a map key in
a path (`metadata.annotations[some/key]`), as `field.Path.Key` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from webhook.errors import Key, Path, Step, dotted, shown

__all__ = [
    "DUPLICATE",
    "FORBIDDEN",
    "INVALID",
    "NOT_SUPPORTED",
    "REQUIRED",
    "TOO_LONG",
    "FieldError",
    "Key",
    "Path",
    "Step",
    "dotted",
    "forbidden",
    "invalid",
    "not_supported",
    "required",
]


# The error types of field.ErrorType that the ported rules use, with upstream's wording.
INVALID: Final = "Invalid value"
REQUIRED: Final = "Required value"
FORBIDDEN: Final = "Forbidden"
NOT_SUPPORTED: Final = "Unsupported value"
DUPLICATE: Final = "Duplicate value"
TOO_LONG: Final = "Too long"
TOO_MANY: Final = "Too many"

_NO_VALUE = (REQUIRED, FORBIDDEN, TOO_LONG)


class _Omitted:
    """field.OmitValueType: an error about a whole object, whose value is not shown."""

    def __repr__(self) -> str:
        return "<omitted>"


OMITTED: Final = _Omitted()


@dataclass(frozen=True)
class FieldError:
    """One field.Error: what is wrong (`kind`), where (`path`), the bad value and why."""

    path: Path
    kind: str
    detail: str
    value: object = None

    def body(self) -> str:
        """The message without the path, as field.Error.ErrorBody renders it."""
        if self.kind in _NO_VALUE or self.value is OMITTED:
            return f"{self.kind}: {self.detail}" if self.detail else self.kind
        body = f"{self.kind}: {shown(self.value)}"
        return f"{body}: {self.detail}" if self.detail else body

    def __str__(self) -> str:
        return f"{dotted(self.path)}: {self.body()}" if self.path else self.body()


def invalid(path: Path, value: object, detail: str) -> FieldError:
    return FieldError(path, INVALID, detail, value)


def required(path: Path, detail: str = "") -> FieldError:
    return FieldError(path, REQUIRED, detail)


def forbidden(path: Path, detail: str) -> FieldError:
    return FieldError(path, FORBIDDEN, detail)


def not_supported(path: Path, value: object, supported: tuple[str, ...]) -> FieldError:
    listed = ", ".join(f'"{s}"' for s in supported)
    return FieldError(path, NOT_SUPPORTED, f"supported values: {listed}", value)


def too_many(path: Path, actual: int, limit: int) -> FieldError:
    return FieldError(path, TOO_MANY, f"must have at most {limit} items", actual)


def duplicate(path: Path, value: object) -> FieldError:
    return FieldError(path, DUPLICATE, "", value)
