"""Node affinity, as kube-apiserver validates it on a Pod create, and as kube-scheduler reads it.

Ported from kubernetes `pkg/apis/core/validation/validation.go`: ValidateNodeSelectorRequirement,
ValidateNodeFieldSelectorRequirement, ValidateNodeSelectorTerm, ValidateNodeSelector and
ValidatePreferredSchedulingTerms, with the options of a Pod create (no invalid label values in
required node affinity). `validate_node_selector_requirement_for_scheduler` adds what the
scheduler needs to use a requirement at all, which the apiserver does not check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.kube.validation.field import FieldError, Path, invalid, required
from webhook.kube.validation.meta import (
    mapping,
    sequence,
    set_operator_errors,
    text,
    validate_label_name,
    validate_label_values,
)
from webhook.kube.validation.names import is_dns1123_subdomain, is_int, parse_int


def validate_node_selector_requirement(
    requirement: Mapping[str, Any], path: Path, allow_invalid_label_value: bool = False
) -> list[FieldError]:
    operator = text(requirement, "operator")
    values = sequence(requirement.get("values"))
    errors = set_operator_errors(operator, values, path)
    if errors is None and operator in ("Gt", "Lt"):
        errors = []
        if len(values) != 1:
            message = "must be specified single value when `operator` is 'Lt' or 'Gt'"
            errors.append(required((*path, "values"), message))
    elif errors is None:
        errors = [invalid((*path, "operator"), operator, "not a valid selector operator")]
    errors += validate_label_name(text(requirement, "key"), (*path, "key"))
    if not allow_invalid_label_value:
        errors += validate_label_values(values, (*path, "values"))
    return errors


def validate_node_selector_requirement_for_scheduler(
    requirement: Mapping[str, Any], path: Path
) -> list[FieldError]:
    """What kube-scheduler needs to turn a requirement into a selector: every value a label
    value, and a Gt/Lt value a base-10 int64 (k8s.io/apimachinery `pkg/labels/selector.go`
    NewRequirement, called by component-helpers `scheduling/corev1/nodeaffinity`). The
    apiserver accepts a preferred term that fails this, and the scheduler then fails every
    scheduling attempt of the pod."""
    errors: list[FieldError] = []
    values = sequence(requirement.get("values"))
    if text(requirement, "operator") in ("Gt", "Lt"):
        if len(values) != 1:
            errors.append(
                invalid(
                    (*path, "values"),
                    values,
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                )
            )
        for index, value in enumerate(values):
            if not isinstance(value, str) or parse_int(value) is None:
                errors.append(
                    invalid(
                        (*path, "values", index),
                        value,
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    )
                )
    return errors + validate_label_values(values, (*path, "values"))


def validate_node_field_selector_requirement(
    requirement: Mapping[str, Any], path: Path
) -> list[FieldError]:
    errors: list[FieldError] = []
    operator = text(requirement, "operator")
    values = sequence(requirement.get("values"))
    if operator in ("In", "NotIn"):
        if len(values) != 1:
            errors.append(
                required(
                    (*path, "values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field "
                    "selector",
                )
            )
    else:
        errors.append(invalid((*path, "operator"), operator, "not a valid selector operator"))
    key = text(requirement, "key")
    if key != "metadata.name":
        errors.append(invalid((*path, "key"), key, "not a valid field selector key"))
        return errors
    for index, value in enumerate(values):
        name = value if isinstance(value, str) else ""
        errors += [
            invalid((*path, "values", index), value, message)
            for message in is_dns1123_subdomain(name)
        ]
    return errors


def validate_node_selector_term(
    term: Mapping[str, Any], path: Path, allow_invalid_label_value: bool = False
) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, item in enumerate(sequence(term.get("matchExpressions"))):
        errors += validate_node_selector_requirement(
            mapping(item), (*path, "matchExpressions", index), allow_invalid_label_value
        )
    for index, item in enumerate(sequence(term.get("matchFields"))):
        errors += validate_node_field_selector_requirement(
            mapping(item), (*path, "matchFields", index)
        )
    return errors


def validate_node_selector(selector: Mapping[str, Any], path: Path) -> list[FieldError]:
    """requiredDuringSchedulingIgnoredDuringExecution: at least one term, each valid."""
    terms = sequence(selector.get("nodeSelectorTerms"))
    if not terms:
        return [required((*path, "nodeSelectorTerms"), "must have at least one node selector term")]
    errors: list[FieldError] = []
    for index, term in enumerate(terms):
        errors += validate_node_selector_term(mapping(term), (*path, "nodeSelectorTerms", index))
    return errors


def weight_errors(item: Mapping[str, Any], path: Path) -> list[FieldError]:
    weight = item.get("weight", 0)
    if not is_int(weight, 32) or not 1 <= weight <= 100:
        return [invalid((*path, "weight"), weight, "must be in the range 1-100")]
    return []


def validate_preferred_scheduling_terms(terms: list[Any], path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, item in enumerate(terms):
        term = mapping(item)
        errors += weight_errors(term, (*path, index))
        # Upstream always allows invalid label values here (the scheduler does not: see
        # validate_node_selector_requirement_for_scheduler).
        errors += validate_node_selector_term(
            mapping(term.get("preference")), (*path, index, "preference"), True
        )
    return errors
