"""A Job's retries on spot: the pod failure policy rule that does not count a disrupted pod.

`{action: Ignore, onPodConditions: [{type: DisruptionTarget, status: "True"}]}`: the Job
controller replaces a pod that preemption, an eviction, a taint-based eviction or pod garbage
collection after node loss ended, without counting it against `backoffLimit` (stable since
Kubernetes 1.31; kubernetes.io "Handling retriable and non-retriable pod failures with Pod
failure policy"). It goes after the Job's own rules, which keep their precedence: the first
rule that matches a failed pod decides.

kube-apiserver accepts a pod failure policy only with `restartPolicy: Never` and
`podReplacementPolicy: Failed` (`pkg/apis/batch/validation/validation.go`). The replacement
policy is defaulted before admission, to TerminatingOrFailed when no pod failure policy is set
(`pkg/apis/batch/v1/defaults.go` SetDefaults_Job): with the rule it becomes Failed, the value
the defaulting gives a Job that has a pod failure policy; a replacement pod then starts once
the disrupted one has terminated, not while it is terminating.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook import patch
from webhook.kube.validation import FieldError
from webhook.kube.validation.field import too_many
from webhook.kube.validation.jobs import (
    MAX_POD_FAILURE_POLICY_RULES,
    validate_job_restart_policy,
    validate_pod_failure_policy_rule,
    validate_pod_replacement_policy,
)
from webhook.kube.validation.meta import mapping, sequence
from webhook.workloads.kinds import WorkloadKind, spec_of
from webhook.workloads.result import Change, Refusal

DISRUPTION_TARGET = "DisruptionTarget"
DISRUPTION_RULE: dict[str, Any] = {
    "action": "Ignore",
    "onPodConditions": [{"type": DISRUPTION_TARGET, "status": "True"}],
}


def handles_disruptions(spec: Mapping[str, Any]) -> str | None:
    """Why the Job needs no rule: one of its own rules already decides about disrupted pods
    (whatever its action: the user's choice wins)."""
    rules = sequence(mapping(spec.get("podFailurePolicy")).get("rules"))
    for index, rule in enumerate(rules):
        conditions = sequence(mapping(rule).get("onPodConditions"))
        if any(mapping(c).get("type") == DISRUPTION_TARGET for c in conditions):
            return f"podFailurePolicy.rules[{index}] already decides about {DISRUPTION_TARGET} pods"
    return None


def add_disruption_rule(obj: Mapping[str, Any], kind: WorkloadKind) -> Change | Refusal:
    """The rule appended to the Job's (or Job template's) pod failure policy, with the
    replacement policy it needs; refused when the apiserver would then refuse the object."""
    path = kind.spec_path
    spec = spec_of(obj, kind)
    try:
        ops, doc = patch.append(obj, (*path, "podFailurePolicy", "rules"), [DISRUPTION_RULE])
        added: dict[str, Any] = {"podFailurePolicy.rules": [DISRUPTION_RULE]}
        if spec.get("podReplacementPolicy") == "TerminatingOrFailed":
            more, doc = patch.set_keys(doc, path, {"podReplacementPolicy": "Failed"})
            ops, added["podReplacementPolicy"] = ops + more, "Failed"
    except patch.PatchError as exc:
        return Refusal("invalid", f"the {kind.kind} has {exc}")
    errors = what_the_rule_breaks(spec_of(doc, kind), path)
    if errors:
        return _refusal(errors[0], spec)
    return Change(ops, doc, added)


def what_the_rule_breaks(spec: Mapping[str, Any], path: tuple[str, ...]) -> list[FieldError]:
    """The apiserver's Job rules (validateJobSpec) that the appended rule, last in `spec`, and
    the replacement policy can break: the number of rules, the rule itself, podReplacementPolicy
    and restartPolicy. The Job's own rules are left to the apiserver: they are the same with the
    addition as without, and checking them would cost as much as the Job is long."""
    rules_path = (*path, "podFailurePolicy", "rules")
    count = len(sequence(mapping(spec.get("podFailurePolicy")).get("rules")))
    errors: list[FieldError] = []
    if count > MAX_POD_FAILURE_POLICY_RULES:
        errors.append(too_many(rules_path, count, MAX_POD_FAILURE_POLICY_RULES))
    errors += validate_pod_failure_policy_rule(
        spec, DISRUPTION_RULE, (*rules_path, count - 1), set()
    )
    errors += validate_pod_replacement_policy(spec, (*path, "podReplacementPolicy"))
    return errors + validate_job_restart_policy(spec, path)


def _refusal(error: FieldError, spec: Mapping[str, Any]) -> Refusal:
    if error.path[-1:] == ("restartPolicy",):
        return Refusal(
            "restart-policy",
            f"its pods restart {error.value}, and kube-apiserver accepts a podFailurePolicy "
            "only with restartPolicy Never (set it to have evicted pods replaced without "
            "counting against backoffLimit)",
        )
    if error.path[-1:] == ("rules",) and error.kind == "Too many":
        rules = len(sequence(mapping(spec.get("podFailurePolicy")).get("rules")))
        return Refusal(
            "rule-limit",
            f"its podFailurePolicy has {rules} rules, the most kube-apiserver accepts "
            f"({MAX_POD_FAILURE_POLICY_RULES})",
        )
    return Refusal("invalid", f"with it kube-apiserver would refuse the Job: {error}")
