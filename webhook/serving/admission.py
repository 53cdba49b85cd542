"""AdmissionReview in, AdmissionReview out: the contract with kube-apiserver, no transport.

admission.k8s.io/v1 and v1beta1 share their request and response fields; the response echoes
the request's apiVersion and kind and carries its uid. Only CREATE of core `pods` (no
subresource) is mutated, and CREATE of the Jobs, CronJobs and Argo workflows that
`webhook.workloads` gives retries to; everything else is allowed unchanged.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from webhook.engine import CompiledPolicySet, Result, mutate
from webhook.errors import ReviewError, shown
from webhook.kube.pod import display_name
from webhook.serving.audit import AUDIT, dry_run, whole_set_audited
from webhook.workloads import RESOURCES as WORKLOAD_RESOURCES
from webhook.workloads import WorkloadResult, review_workload

log = logging.getLogger("webhook.admission")

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
MAX_JSON_DEPTH = 1024  # orjson refuses deeper documents; a Pod is nowhere near it
AUDIT_KEY = "policies"  # stored by the apiserver as "<webhook name>/policies"
AUDITED_KEY = "audited"  # audit-mode policies that would have changed the pod

NamespaceLabels = Callable[[str], tuple[Mapping[str, str] | None, str | None]]


@dataclass(frozen=True)
class Review:
    api_version: str
    uid: str
    operation: str
    group: str
    resource: str
    sub_resource: str
    kind: str
    namespace: str
    object: Mapping[str, Any] | None
    dry_run: bool

    @property
    def mutates(self) -> bool:
        return (
            self.operation == "CREATE"
            and self.group == ""
            and self.resource == "pods"
            and not self.sub_resource
            and self.kind == "Pod"
        )

    @property
    def mutates_workload(self) -> bool:
        """A CREATE of a Job, CronJob or Argo workflow (`webhook.workloads`)."""
        return (
            self.operation == "CREATE"
            and (self.group, self.resource) in WORKLOAD_RESOURCES
            and not self.sub_resource
        )


@dataclass
class Outcome:
    """What happened to one review: for the log line and the metrics."""

    uid: str
    namespace: str
    name: str
    # "patched", "unchanged", "skipped" (not a pod CREATE), "error"; "audited" when the whole set
    # is audited and the review would have patched the pod
    result: str
    mode: str = "enforce"  # "audit": the whole set is a dry run (serving/audit.py)
    applied: list[str] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # policies skipped on an error
    refused: list[str] = field(default_factory=list)  # placements taken back by the judgement
    refused_intents: list[str] = field(default_factory=list)  # the intent each would break
    invalid: list[str] = field(default_factory=list)  # not applied: the apiserver would refuse
    skipped: list[str] = field(default_factory=list)  # namespace labels unknown
    patch_ops: int = 0
    would_add: list[str] = field(default_factory=list)  # audited: the patch not sent, `op path`
    warnings: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)  # RetryPolicies that added retries
    # (RetryPolicy, reason) for retries due and not added (webhook.workloads.REFUSALS).
    retries_refused: list[tuple[str, str]] = field(default_factory=list)


def _field(obj: Mapping[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    value = obj.get(key, default)
    if value is None and default is not None:
        return default
    if not isinstance(value, kind):
        expected = {str: "a string", dict: "an object", bool: "a boolean"}.get(kind, kind.__name__)
        raise ReviewError(f"{where}{key} must be {expected}")
    return value


def parse_review(body: bytes) -> Review:
    """Decode and check the fields this webhook relies on; ReviewError says what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson's only signal for its 1024-level limit
            raise ReviewError(
                f"body is nested more than {MAX_JSON_DEPTH} levels deep ({exc}): "
                "not an AdmissionReview"
            ) from None
        raise ReviewError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReviewError("body must be a JSON object (an AdmissionReview)")
    api_version = data.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise ReviewError(
            f"apiVersion must be one of {', '.join(API_VERSIONS)}, got {shown(api_version)}"
        )
    if data.get("kind") != "AdmissionReview":
        raise ReviewError(f"kind must be AdmissionReview, got {shown(data.get('kind'))}")
    request = data.get("request")
    if not isinstance(request, dict):
        raise ReviewError("request must be an object")
    uid = _field(request, "uid", str, "request.")
    if not uid:
        raise ReviewError("request.uid must not be empty")
    operation = _field(request, "operation", str, "request.")
    resource = _field(request, "resource", dict, "request.")
    kind = _field(request, "kind", dict, "request.")
    obj = request.get("object")
    if obj is not None and not isinstance(obj, dict):
        raise ReviewError("request.object must be an object or null")
    review = Review(
        api_version=api_version,
        uid=uid,
        operation=operation,
        group=str(resource.get("group") or ""),
        resource=str(resource.get("resource") or ""),
        sub_resource=str(_field(request, "subResource", str, "request.", "")),
        kind=str(kind.get("kind") or ""),
        namespace=str(_field(request, "namespace", str, "request.", "")),
        object=obj,
        dry_run=bool(request.get("dryRun")),
    )
    if review.mutates and obj is None:
        raise ReviewError("request.object must be the Pod for a CREATE of pods")
    if review.mutates_workload and obj is None:
        raise ReviewError(f"request.object must be the object for a CREATE of {review.resource}")
    return review


def response_body(
    review: Review,
    ops: list[dict[str, Any]] | None = None,
    warnings: list[str] | None = None,
    audit: Mapping[str, str] | None = None,
) -> bytes:
    response: dict[str, Any] = {"uid": review.uid, "allowed": True}
    if ops:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(orjson.dumps(ops)).decode()
    if warnings:
        response["warnings"] = list(dict.fromkeys(warnings))
    if audit:
        response["auditAnnotations"] = dict(audit)
    return orjson.dumps(
        {"apiVersion": review.api_version, "kind": "AdmissionReview", "response": response}
    )


def review_pod(
    policies: CompiledPolicySet,
    review: Review,
    namespace_labels: NamespaceLabels | None = None,
) -> tuple[bytes, Outcome]:
    """Answer one parsed review. Never raises: an internal failure anywhere after parsing (the
    engine, the namespace view, encoding the answer) admits the pod unchanged, with a warning."""
    pod = review.object or {}
    outcome = Outcome(review.uid, review.namespace, display_name(pod), "skipped")
    if not review.mutates:
        if review.mutates_workload:
            return review_workload_request(policies, review, namespace_labels)
        return response_body(review), outcome
    try:
        return _answer(policies, review, namespace_labels, outcome)
    except Exception as exc:  # the last guard: a bug here must not block pod creation
        log.exception("review failed, pod admitted unchanged", extra={"uid": review.uid})
        fresh = Outcome(review.uid, review.namespace, outcome.name, "error")
        fresh.errors.append(f"{type(exc).__name__}: {exc}")
        warning = "pod-placement-webhook: internal error, pod admitted unchanged"
        return response_body(review, warnings=[warning]), fresh


def _answer(
    policies: CompiledPolicySet,
    review: Review,
    namespace_labels: NamespaceLabels | None,
    outcome: Outcome,
) -> tuple[bytes, Outcome]:
    labels, unsynced = (
        (None, None) if namespace_labels is None else namespace_labels(review.namespace)
    )
    result: Result = mutate(policies, review.object or {}, review.namespace, labels)
    for error in result.errors:
        log.error("policy failed: %s", error, extra={"uid": review.uid})
    outcome.errors, outcome.failed = result.errors, result.failed
    outcome.refused, outcome.invalid = result.refused, result.invalid
    outcome.refused_intents = [result.breaches[name].intent for name in result.refused]
    outcome.skipped = result.skipped
    if whole_set_audited(policies):
        return _answer_audited(policies, review, result, unsynced, outcome)
    outcome.applied, outcome.audited = result.applied, result.audited
    outcome.patch_ops = len(result.ops)
    outcome.warnings = _with_unsynced(result.skipped, result.warnings, unsynced)
    outcome.result = "patched" if result.ops else "unchanged"
    # The same value on every call that changes the pod: the apiserver keeps an audit
    # annotation's first value for a request and refuses (and logs) another.
    audit = {AUDIT_KEY: ",".join(result.provenance)} if result.applied else {}
    if result.audited:
        audit[AUDITED_KEY] = ",".join(result.audited)
    return response_body(review, result.ops, outcome.warnings, audit), outcome


def _answer_audited(
    policies: CompiledPolicySet,
    review: Review,
    result: Result,
    unsynced: str | None,
    outcome: Outcome,
) -> tuple[bytes, Outcome]:
    """The whole set audited: the review as computed, answered without its patch."""
    report = dry_run(policies, result)
    outcome.mode, outcome.audited, outcome.would_add = AUDIT, report.audited, report.would_add
    outcome.warnings = _with_unsynced(result.skipped, report.warnings, unsynced)
    outcome.result = "audited" if result.ops else "unchanged"
    audit = {AUDITED_KEY: ",".join(report.audited)} if report.audited else {}
    return response_body(review, None, outcome.warnings, audit), outcome


def _with_unsynced(skipped: list[str], warnings: list[str], unsynced: str | None) -> list[str]:
    """The review's warnings, and the namespace view's reason when policies were skipped for
    want of the labels it holds."""
    if unsynced and skipped:
        return [*warnings, unsynced]
    return list(warnings)


def reads_namespace_labels(policies: CompiledPolicySet) -> bool:
    """Whether a policy's match or exclude clauses read the labels of the pod's namespace."""
    return any(policy.reads_namespace_labels for policy in policies.policies)


def review_workload_request(
    policies: CompiledPolicySet,
    review: Review,
    namespace_labels: NamespaceLabels | None = None,
) -> tuple[bytes, Outcome]:
    """Answer a Job's, CronJob's or workflow's CREATE: the retries it gains on spot. Never
    raises: an internal failure admits the object unchanged, with a warning."""
    obj = review.object or {}
    try:
        labels, unsynced = (
            (None, None) if namespace_labels is None else namespace_labels(review.namespace)
        )
        result = review_workload(policies, obj, review.namespace, labels)
        outcome = workload_outcome(review, result)
    except Exception as exc:  # the last guard, as for pods
        log.exception("review failed, object admitted unchanged", extra={"uid": review.uid})
        outcome = Outcome(review.uid, review.namespace, display_name(obj), "error")
        outcome.errors.append(f"{type(exc).__name__}: {exc}")
        warning = "pod-placement-webhook: internal error, object admitted unchanged"
        return response_body(review, warnings=[warning]), outcome
    if unsynced and any(r.spec.match.namespace_selector for r in policies.source.retries):
        outcome.warnings.append(unsynced)
    audit = {AUDIT_KEY: ",".join(result.provenance)} if result.ops else {}
    return response_body(review, result.ops, outcome.warnings, audit), outcome


def workload_outcome(review: Review, result: WorkloadResult) -> Outcome:
    outcome = Outcome(review.uid, review.namespace, result.name, "unchanged")
    outcome.result = "patched" if result.ops else "unchanged"
    outcome.patch_ops = len(result.ops)
    outcome.warnings = list(result.warnings)
    if result.policy is not None and result.refused is None:
        outcome.retries.append(result.policy)
    if result.policy is not None and result.refused is not None:
        outcome.retries_refused.append((result.policy, result.refused))
        log.warning(
            "retries not added: %s",
            result.warnings[0] if result.warnings else result.refused,
            extra={"uid": review.uid, "namespace": review.namespace, "kind": result.kind},
        )
    return outcome


def handle(
    policies: CompiledPolicySet,
    body: bytes,
    namespace_labels: NamespaceLabels | None = None,
) -> tuple[bytes, Outcome]:
    """Body bytes to response bytes. Raises ReviewError (HTTP 400) for malformed bodies only."""
    return review_pod(policies, parse_review(body), namespace_labels)
