"""Labels, annotations and label selectors, as kube-apiserver validates them on any object.

Ported from k8s.io/apimachinery: `pkg/api/validation/objectmeta.go` (ValidateAnnotations,
ValidateAnnotationsSize, TotalAnnotationSizeLimitB) and `pkg/apis/meta/v1/validation/
validation.go` (ValidateLabelName, ValidateLabels, ValidateLabelSelector,
ValidateLabelSelectorRequirement). Objects are plain dicts as they travel in JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.kube.validation.field import (
    TOO_LONG,
    FieldError,
    Path,
    forbidden,
    invalid,
    required,
)
from webhook.kube.validation.names import byte_length, is_label_value, is_qualified_name

TOTAL_ANNOTATION_SIZE_LIMIT_BYTES = 256 * 1024


def mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object, or {} for a missing or null one (Go's zero value)."""
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> list[Any]:
    """A JSON array, or [] for a missing or null one."""
    return value if isinstance(value, list) else []


def text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def label_value_errors(value: object) -> list[str]:
    """IsValidLabelValue for a value from JSON, where a non-string cannot even be decoded."""
    return is_label_value(value) if isinstance(value, str) else ["must be a string"]


def validate_label_name(name: str, path: Path) -> list[FieldError]:
    return [invalid(path, name, message) for message in is_qualified_name(name)]


def validate_labels(labels: Mapping[str, str], path: Path) -> list[FieldError]:
    """Every key a qualified name, every value a label value; upstream reports both at the
    path of the map itself."""
    errors: list[FieldError] = []
    for key, value in labels.items():
        errors += validate_label_name(key, path)
        errors += [invalid(path, value, message) for message in is_label_value(value)]
    return errors


def annotations_size(annotations: Mapping[str, str]) -> int:
    """The bytes ValidateAnnotationsSize counts: every key and value, in UTF-8."""
    return sum(byte_length(k) + byte_length(v) for k, v in annotations.items())


def validate_annotations(annotations: Mapping[str, str], path: Path) -> list[FieldError]:
    """Keys are qualified names once lower-cased (case does not matter for annotations); keys
    and values together fit in 256 KiB."""
    errors = [
        invalid(path, key, message)
        for key in annotations
        for message in is_qualified_name(key.lower())
    ]
    size = annotations_size(annotations)
    if size > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES:
        errors.append(
            FieldError(
                path,
                TOO_LONG,
                f"may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT_BYTES} bytes (got {size})",
            )
        )
    return errors


def validate_label_selector_requirement(
    requirement: Mapping[str, Any], path: Path, allow_invalid_label_value: bool = False
) -> list[FieldError]:
    operator = text(requirement, "operator")
    values = sequence(requirement.get("values"))
    errors = set_operator_errors(operator, values, path)
    if errors is None:
        errors = [invalid((*path, "operator"), operator, "not a valid selector operator")]
    errors += validate_label_name(text(requirement, "key"), (*path, "key"))
    if not allow_invalid_label_value:
        errors += validate_label_values(values, (*path, "values"))
    return errors


def set_operator_errors(operator: str, values: list[Any], path: Path) -> list[FieldError] | None:
    """The values rule of the set-based operators (In, NotIn need values; Exists and
    DoesNotExist take none), shared by label and node selector requirements; None for
    another operator."""
    if operator in ("In", "NotIn"):
        if values:
            return []
        message = "must be specified when `operator` is 'In' or 'NotIn'"
        return [required((*path, "values"), message)]
    if operator in ("Exists", "DoesNotExist"):
        if not values:
            return []
        message = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
        return [forbidden((*path, "values"), message)]
    return None


def validate_label_values(values: list[Any], path: Path) -> list[FieldError]:
    """Each of a requirement's values a label value."""
    return [
        invalid((*path, index), value, message)
        for index, value in enumerate(values)
        for message in label_value_errors(value)
    ]


def validate_label_selector(
    selector: Mapping[str, Any] | None, path: Path, allow_invalid_label_value: bool = False
) -> list[FieldError]:
    """A nil selector is valid; matchLabels as labels, each matchExpression as a requirement."""
    if selector is None:
        return []
    errors = validate_labels(mapping(selector.get("matchLabels")), (*path, "matchLabels"))
    for index, requirement in enumerate(sequence(selector.get("matchExpressions"))):
        errors += validate_label_selector_requirement(
            mapping(requirement), (*path, "matchExpressions", index), allow_invalid_label_value
        )
    return errors
