"""topologySpreadConstraints, as kube-apiserver validates them on a Pod create.

Ported from kubernetes `pkg/apis/core/validation/validation.go`: validateTopologySpreadConstraints
with ValidateMaxSkew, ValidateTopologyKey, ValidateWhenUnsatisfiable,
ValidateSpreadConstraintNotRepeat, validateMinDomains, validateNodeInclusionPolicy and
validateMatchLabelKeysInTopologySpread; the label selector is checked with invalid label values
refused (AllowInvalidTopologySpreadConstraintLabelSelector is only set on update).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.kube.validation.field import (
    DUPLICATE,
    FieldError,
    Path,
    forbidden,
    invalid,
    not_supported,
    required,
)
from webhook.kube.validation.meta import (
    mapping,
    sequence,
    text,
    validate_label_name,
    validate_label_selector,
)
from webhook.kube.validation.names import is_int

WHEN_UNSATISFIABLE = ("DoNotSchedule", "ScheduleAnyway")
NODE_INCLUSION_POLICIES = ("Honor", "Ignore")
_NOT_POSITIVE = "must be greater than zero"


def validate_topology_spread_constraints(constraints: list[Any], path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    items = [mapping(c) for c in constraints]
    for index, constraint in enumerate(items):
        here = (*path, index)
        errors += _int32_errors(constraint, "maxSkew", here, required_field=True)
        max_skew = constraint.get("maxSkew", 0)
        if is_int(max_skew, 32) and max_skew <= 0:
            errors.append(invalid((*here, "maxSkew"), max_skew, _NOT_POSITIVE))
        key, action = text(constraint, "topologyKey"), text(constraint, "whenUnsatisfiable")
        if not key:
            errors.append(required((*here, "topologyKey"), "can not be empty"))
        if action not in WHEN_UNSATISFIABLE:
            errors.append(not_supported((*here, "whenUnsatisfiable"), action, WHEN_UNSATISFIABLE))
        for rest in items[index + 1 :]:
            if (text(rest, "topologyKey"), text(rest, "whenUnsatisfiable")) == (key, action):
                errors.append(
                    FieldError(
                        (*here, "{topologyKey, whenUnsatisfiable}"),
                        DUPLICATE,
                        "",
                        f"{{{key}, {action}}}",
                    )
                )
                break
        errors += _min_domains_errors(constraint, action, here)
        for name in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            policy = constraint.get(name)
            if policy is not None and policy not in NODE_INCLUSION_POLICIES:
                errors.append(not_supported((*here, name), policy, NODE_INCLUSION_POLICIES))
        selector = constraint.get("labelSelector")
        errors += _match_label_keys_errors(constraint, selector, here)
        errors += validate_label_selector(
            mapping(selector) if selector is not None else None, (*here, "labelSelector")
        )
    return errors


def _int32_errors(
    constraint: Mapping[str, Any], name: str, path: Path, required_field: bool = False
) -> list[FieldError]:
    """The apiserver cannot decode a number outside int32 into these fields."""
    value = constraint.get(name, 0 if required_field else None)
    if value is None or is_int(value, 32):
        return []
    return [invalid((*path, name), value, "must be a 32-bit integer")]


def _min_domains_errors(constraint: Mapping[str, Any], action: str, path: Path) -> list[FieldError]:
    min_domains = constraint.get("minDomains")
    if min_domains is None:
        return []
    errors = _int32_errors(constraint, "minDomains", path)
    if is_int(min_domains, 32) and min_domains <= 0:
        errors.append(invalid((*path, "minDomains"), min_domains, _NOT_POSITIVE))
    if action != "DoNotSchedule":
        errors.append(
            invalid(
                (*path, "minDomains"),
                min_domains,
                f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}",
            )
        )
    return errors


def _match_label_keys_errors(
    constraint: Mapping[str, Any], selector: Any, path: Path
) -> list[FieldError]:
    keys = sequence(constraint.get("matchLabelKeys"))
    if not keys:
        return []
    here = (*path, "matchLabelKeys")
    errors: list[FieldError] = []
    in_selector: set[str] = set()
    if selector is not None:
        in_selector |= set(mapping(mapping(selector).get("matchLabels")))
        in_selector |= {
            text(mapping(e), "key") for e in sequence(mapping(selector).get("matchExpressions"))
        }
    else:
        errors.append(forbidden(here, "must not be specified when labelSelector is not set"))
    for index, key in enumerate(keys):
        name = key if isinstance(key, str) else ""
        errors += validate_label_name(name, (*here, index))
        if name in in_selector:
            errors.append(
                invalid((*here, index), name, "exists in both matchLabelKeys and labelSelector")
            )
    return errors
