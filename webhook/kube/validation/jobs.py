"""A Job's failure handling, as kube-apiserver validates it: the pod failure policy, the pod
replacement policy and the template's restart policy.

Ported from kubernetes `pkg/apis/batch/validation/validation.go` (validateJobSpec's
restartPolicy check, validatePodFailurePolicy, validatePodFailurePolicyRule,
validatePodFailurePolicyRuleOnPodConditions, validatePodFailurePolicyRuleOnExitCodes,
validatePodReplacementPolicy), with upstream's limits, paths and messages. The rest of a Job
(its pod template above all) is validated by the Pod rules; a CronJob's Job template by the
same functions under `spec.jobTemplate.spec` (ValidateJobTemplateSpec calls validateJobSpec).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from webhook.kube.validation.field import (
    OMITTED,
    FieldError,
    Path,
    duplicate,
    invalid,
    not_supported,
    required,
    too_many,
)
from webhook.kube.validation.meta import mapping, sequence, text, validate_label_name

MAX_POD_FAILURE_POLICY_RULES = 20  # maxPodFailurePolicyRules
MAX_ON_EXIT_CODES_VALUES = 255  # maxPodFailurePolicyOnExitCodesValues
MAX_ON_POD_CONDITIONS_PATTERNS = 20  # maxPodFailurePolicyOnPodConditionsPatterns
ACTIONS = ("Count", "FailIndex", "FailJob", "Ignore")  # supportedPodFailurePolicyActions
ON_EXIT_CODES_OPERATORS = ("In", "NotIn")
CONDITION_STATUSES = ("False", "True", "Unknown")
REPLACEMENT_POLICIES = ("Failed", "TerminatingOrFailed")  # supportedPodReplacementPolicy
JOB_RESTART_POLICIES = ("OnFailure", "Never")


def validate_job_failure_handling(spec: Mapping[str, Any], path: Path) -> list[FieldError]:
    """The parts of validateJobSpec about failures, on a Job's (or a Job template's) spec."""
    errors: list[FieldError] = []
    if spec.get("podFailurePolicy") is not None:
        errors += validate_pod_failure_policy(spec, (*path, "podFailurePolicy"))
    errors += validate_pod_replacement_policy(spec, (*path, "podReplacementPolicy"))
    errors += validate_job_restart_policy(spec, path)
    return errors


def validate_job_restart_policy(spec: Mapping[str, Any], path: Path) -> list[FieldError]:
    """A Job's pods never restart Always (the pod defaulting's value when none is given), and
    only Never goes with a pod failure policy: the Job controller must see a failed pod."""
    where = (*path, "template", "spec", "restartPolicy")
    policy = text(mapping(mapping(spec.get("template")).get("spec")), "restartPolicy")
    if policy in ("Always", ""):
        return [required(where, 'valid values: "OnFailure", "Never"')]
    if policy not in JOB_RESTART_POLICIES:
        return [not_supported(where, policy, JOB_RESTART_POLICIES)]
    if spec.get("podFailurePolicy") is not None and policy != "Never":
        message = 'only "Never" is supported when podFailurePolicy is specified'
        return [invalid(where, policy, message)]
    return []


def validate_pod_replacement_policy(spec: Mapping[str, Any], path: Path) -> list[FieldError]:
    policy = spec.get("podReplacementPolicy")
    if policy is None:
        return []
    if spec.get("podFailurePolicy") is not None:
        return [] if policy == "Failed" else [not_supported(path, policy, ("Failed",))]
    if policy in REPLACEMENT_POLICIES:
        return []
    return [not_supported(path, policy, REPLACEMENT_POLICIES)]


def validate_pod_failure_policy(spec: Mapping[str, Any], path: Path) -> list[FieldError]:
    rules = sequence(mapping(spec.get("podFailurePolicy")).get("rules"))
    rules_path = (*path, "rules")
    errors: list[FieldError] = []
    if len(rules) > MAX_POD_FAILURE_POLICY_RULES:
        errors.append(too_many(rules_path, len(rules), MAX_POD_FAILURE_POLICY_RULES))
    template = mapping(mapping(spec.get("template")).get("spec"))
    names = {
        text(mapping(c), "name")
        for key in ("containers", "initContainers")
        for c in sequence(template.get(key))
    }
    for index, rule in enumerate(rules):
        errors += validate_pod_failure_policy_rule(spec, mapping(rule), (*rules_path, index), names)
    return errors


def validate_pod_failure_policy_rule(
    spec: Mapping[str, Any], rule: Mapping[str, Any], path: Path, container_names: set[str]
) -> list[FieldError]:
    errors: list[FieldError] = []
    action = text(rule, "action")
    if not action:
        errors.append(required((*path, "action"), f"valid values: {_quoted(ACTIONS)}"))
    elif action == "FailIndex":
        if spec.get("backoffLimitPerIndex") is None:
            errors.append(
                invalid((*path, "action"), action, "requires the backoffLimitPerIndex to be set")
            )
    elif action not in ACTIONS:
        errors.append(not_supported((*path, "action"), action, ACTIONS))
    exit_codes = rule.get("onExitCodes")
    conditions = sequence(rule.get("onPodConditions"))
    if exit_codes is not None:
        where = (*path, "onExitCodes")
        errors += validate_on_exit_codes(mapping(exit_codes), where, container_names)
    if conditions:
        errors += validate_on_pod_conditions(conditions, (*path, "onPodConditions"))
    if exit_codes is not None and conditions:
        message = "specifying both OnExitCodes and OnPodConditions is not supported"
        errors.append(invalid(path, OMITTED, message))
    if exit_codes is None and not conditions:
        message = "specifying one of OnExitCodes and OnPodConditions is required"
        errors.append(invalid(path, OMITTED, message))
    return errors


def validate_on_pod_conditions(patterns: list[Any], path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(patterns) > MAX_ON_POD_CONDITIONS_PATTERNS:
        errors.append(too_many(path, len(patterns), MAX_ON_POD_CONDITIONS_PATTERNS))
    for index, item in enumerate(patterns):
        pattern = mapping(item)
        errors += validate_label_name(text(pattern, "type"), (*path, index, "type"))
        status = text(pattern, "status")
        status_path = (*path, index, "status")
        if not status:
            errors.append(required(status_path, f"valid values: {_quoted(CONDITION_STATUSES)}"))
        elif status not in CONDITION_STATUSES:
            errors.append(not_supported(status_path, status, CONDITION_STATUSES))
    return errors


def validate_on_exit_codes(
    requirement: Mapping[str, Any], path: Path, container_names: set[str]
) -> list[FieldError]:
    errors: list[FieldError] = []
    operator = text(requirement, "operator")
    if not operator:
        valid = f"valid values: {_quoted(ON_EXIT_CODES_OPERATORS)}"
        errors.append(required((*path, "operator"), valid))
    elif operator not in ON_EXIT_CODES_OPERATORS:
        errors.append(not_supported((*path, "operator"), operator, ON_EXIT_CODES_OPERATORS))
    container = requirement.get("containerName")
    if container is not None and container not in container_names:
        message = "must be one of the container or initContainer names in the pod template"
        errors.append(invalid((*path, "containerName"), container, message))
    return errors + _exit_code_values(sequence(requirement.get("values")), operator, path)


def _exit_code_values(values: list[Any], operator: str, path: Path) -> list[FieldError]:
    values_path = (*path, "values")
    errors: list[FieldError] = []
    if not values:
        errors.append(invalid(values_path, values, "at least one value is required"))
    elif len(values) > MAX_ON_EXIT_CODES_VALUES:
        errors.append(too_many(values_path, len(values), MAX_ON_EXIT_CODES_VALUES))
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if operator == "In" and value == 0:
            message = "must not be 0 for the In operator"
            errors.append(invalid((*values_path, index), value, message))
        if value in seen:
            errors.append(duplicate((*values_path, index), value))
        seen.add(value)
    ints = all(type(v) is int for v in values)  # anything else fails to decode upstream
    if ints and any(a > b for a, b in itertools.pairwise(values)):
        errors.append(invalid(values_path, values, "must be ordered"))
    return errors


def _quoted(values: tuple[str, ...]) -> str:
    """Go's %q of a []string: `["Count" "FailIndex"]`."""
    return "[" + " ".join(f'"{v}"' for v in values) + "]"
