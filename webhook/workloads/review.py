"""The core for workloads: (policies, Job or workflow, namespace) -> the retries it gains, as a
JSON Patch and a report. Pure: no I/O.

Three steps: is the object one this webhook gives retries to, and has it not decided about
disruptions itself; does the set send one of its pods to spot, with a RetryPolicy for that pod;
then the kind's addition (a Job's pod failure policy rule, a workflow's template defaults), and
the policy's name in the object's provenance annotation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook import patch
from webhook.engine import CompiledPolicySet
from webhook.kube.pod import annotations_of, display_name
from webhook.mutations.annotations import exceeds_annotation_limit
from webhook.workloads import jobs, workflows
from webhook.workloads.compile import CompiledRetry, compiled_retries
from webhook.workloads.kinds import WorkloadKind, kind_of, spec_of
from webhook.workloads.pods import template_pods
from webhook.workloads.result import Judged, Refusal, WorkloadResult
from webhook.workloads.spot import sends_to_spot

# Pod templates judged per workflow, at most. Each costs about 0.13 ms (placed by the whole set,
# judged against the pools); a review stops at the first that goes to spot. A workflow whose
# first 1,000 pod templates all stay off spot gets a warning instead of a judgement of the
# rest, so no workflow can hold a review near the apiserver's timeout.
MAX_JUDGED = 1000


def review_workload(
    compiled: CompiledPolicySet,
    obj: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None = None,
) -> WorkloadResult:
    """What `obj` (a Job, CronJob, Workflow, CronWorkflow or WorkflowTemplate) gains."""
    kind = kind_of(obj)
    result = WorkloadResult(str(obj.get("kind") or ""), display_name(obj), obj)
    if kind is None:
        result.notes.append("not an object this webhook gives retries to")
        return result
    retries = compiled_retries(compiled.source)
    if not retries.policies:
        return result
    spec = spec_of(obj, kind)
    own = (jobs.handles_disruptions if kind.family == "job" else workflows.own_retries)(spec)
    if own is not None:
        result.notes.append(own)
        return result
    policy = choose_policy(compiled, obj, kind, namespace, namespace_labels, result)
    if policy is not None:
        apply_policy(result, kind, policy, compiled.settings.annotation_key)
    return result


def choose_policy(
    compiled: CompiledPolicySet,
    obj: Mapping[str, Any],
    kind: WorkloadKind,
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    result: WorkloadResult,
) -> CompiledRetry | None:
    """The RetryPolicy of the first pod the set sends to spot that one matches (each pod
    judged once: linear in the workload's templates)."""
    retries = compiled_retries(compiled.source)
    steps = template_pods(obj, kind, MAX_JUDGED + 1)
    for step in steps[:MAX_JUDGED]:
        placement = sends_to_spot(compiled, step.pod, namespace, namespace_labels)
        result.judged.append(Judged(step.template, placement))
        if placement.spot:
            chosen = retries.first_for(kind.family, step.pod, namespace, namespace_labels)
            if chosen is not None:
                return chosen
    if len(steps) > MAX_JUDGED:
        result.warnings.append(
            f"{kind.kind} {result.name}: only its first {MAX_JUDGED} templates that run pods were "
            "judged for spot retries, and none goes to spot: the others are not judged"
        )
    sent = any(j.placement.spot for j in result.judged)
    result.notes.append(
        "its pods go to spot, and no RetryPolicy matches them"
        if sent
        else "none of its pods goes to a spot pool"
    )
    return None


def apply_policy(
    result: WorkloadResult, kind: WorkloadKind, policy: CompiledRetry, annotation_key: str
) -> None:
    result.policy = policy.name
    workflow_retries = policy.policy.spec.workflows
    if kind.family == "job":
        change = jobs.add_disruption_rule(result.object, kind)
    else:
        assert workflow_retries is not None  # `first_for` chose a policy that gives them
        change = workflows.add_template_defaults(result.object, kind, workflow_retries)
    if isinstance(change, Refusal):
        result.refused = change.reason
        what = "podFailurePolicy rule" if kind.family == "job" else "templateDefaults"
        result.warnings.append(
            f"retry policy {policy.name}: no {what} for spot evictions added to "
            f"{kind.kind} {result.name}: {change.message}"
        )
        return
    result.ops, result.object, result.added = list(change.ops), change.object, change.added
    _add_provenance(result, annotation_key, policy.name)


def _add_provenance(result: WorkloadResult, key: str, name: str) -> None:
    """The policy's name in the object's provenance annotation, after the names there."""
    listed = [n for n in str(annotations_of(result.object).get(key) or "").split(",") if n]
    result.provenance = listed + [name] * (name not in listed)
    value = ",".join(result.provenance)
    if exceeds_annotation_limit(result.object, key, value):
        result.warnings.append(f"annotation {key} not added: the annotations are full")
        return
    try:
        ops, result.object = patch.set_keys(
            result.object, ("metadata", "annotations"), {key: value}
        )
    except patch.PatchError as exc:
        result.warnings.append(f"annotation {key} not added: {exc}")
        return
    result.ops += ops
