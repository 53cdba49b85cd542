"""Tolerations, as kube-apiserver validates them on a Pod.

Ported from kubernetes `pkg/apis/core/validation/validation.go` ValidateTolerations and
validateTaintEffect. Paths and messages are upstream's (a bad value is reported at
`operator`, as upstream does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.kube.validation.field import FieldError, Path, invalid, not_supported
from webhook.kube.validation.meta import label_value_errors, mapping, text, validate_label_name
from webhook.kube.validation.names import is_int

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_OPERATORS = ("Equal", "Exists")


def validate_tolerations(tolerations: list[Any], path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, item in enumerate(tolerations):
        errors += validate_toleration(mapping(item), (*path, index))
    return errors


def validate_toleration(toleration: Mapping[str, Any], path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    key, operator = text(toleration, "key"), text(toleration, "operator")
    value, effect = text(toleration, "value"), text(toleration, "effect")
    if key:
        errors += validate_label_name(key, (*path, "key"))
    if not key and operator != "Exists":
        errors.append(
            invalid(
                (*path, "operator"),
                operator,
                'operator must be Exists when `key` is empty, which means "match all values '
                'and all keys"',
            )
        )
    seconds = toleration.get("tolerationSeconds")
    if seconds is not None and effect != "NoExecute":
        errors.append(
            invalid(
                (*path, "effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            )
        )
    if seconds is not None and not is_int(seconds, 64):
        # The apiserver cannot decode it into the int64 field: the request fails.
        errors.append(invalid((*path, "tolerationSeconds"), seconds, "must be a 64-bit integer"))
    if operator in ("Equal", ""):  # an empty operator means Equal
        messages = label_value_errors(toleration.get("value", ""))
        if messages:
            errors.append(invalid((*path, "operator"), value, ";".join(messages)))
    elif operator == "Exists":
        if value:
            errors.append(
                invalid(
                    (*path, "operator"), value, "value must be empty when `operator` is 'Exists'"
                )
            )
    else:
        errors.append(not_supported((*path, "operator"), operator, TOLERATION_OPERATORS))
    if effect and effect not in TAINT_EFFECTS:
        errors.append(not_supported((*path, "effect"), effect, TAINT_EFFECTS))
    return errors
