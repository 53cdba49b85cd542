"""One checked way to review a Job, CronJob or Argo workflow, as `tests/pods.py` `mutated()` is
for pods: the patch applies identically with the real kubectl and with jsonpatch and gives the
object the review reports; every operation is an `add`; nothing the user wrote changes (but the
`podReplacementPolicy` kube-apiserver defaulted, which a pod failure policy needs as Failed); the
result is what kube-apiserver accepts (a Job or CronJob by the Kubernetes schema and the ported
batch rules, a workflow by the Argo CRD schema); a second review adds nothing."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import kubernetes_validate

from tests.argo_schema import workflow_errors
from tests.kube import K8S_VERSION, apply_both
from tests.pods import is_subdocument, plain
from webhook.engine import CompiledPolicySet
from webhook.kube.validation.jobs import validate_job_failure_handling
from webhook.workloads import WorkloadResult, kind_of, review_workload
from webhook.workloads.kinds import spec_of

Doc = dict[str, Any]


def reviewed(
    compiled: CompiledPolicySet,
    obj: Mapping[str, Any],
    namespace: str = "default",
    namespace_labels: Mapping[str, str] | None = None,
) -> tuple[WorkloadResult, Doc]:
    """Review `obj` and check the patch as kube-apiserver would use it; the result and the
    object as kubectl patched it."""
    original = plain(obj)
    result = review_workload(compiled, original, namespace, namespace_labels)
    assert original == plain(obj), "the review changed its input"
    assert all(op["op"] == "add" for op in result.ops), result.ops
    after = apply_both(original, plain(result.ops))
    assert after == plain(result.object), "the review's own view differs from the patched object"
    problem = is_subdocument(_user_fields(original, compiled.settings.annotation_key), after)
    assert problem is None, f"a field the user wrote changed: {problem}"
    assert_accepted(after)
    again = review_workload(compiled, after, namespace, namespace_labels)
    assert not again.ops, f"a second review adds more: {again.ops}"
    return result, after


def _user_fields(obj: Doc, own_key: str) -> Doc:
    """The object less what the webhook may replace: its own provenance annotation (a later
    review extends the list), and a `podReplacementPolicy` of TerminatingOrFailed, which the
    defaulting wrote and a pod failure policy does not allow."""
    out = copy.deepcopy(obj)
    annotations = (out.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(own_key, None)
    kind = kind_of(out)
    if kind is not None and kind.family == "job":
        spec = spec_of(out, kind)
        if spec.get("podReplacementPolicy") == "TerminatingOrFailed":
            del spec["podReplacementPolicy"]  # type: ignore[attr-defined]
    return out


def assert_accepted(obj: Mapping[str, Any]) -> None:
    """kube-apiserver would accept the object: its schema, and for Jobs the ported rules."""
    kind = kind_of(obj)
    assert kind is not None, obj.get("kind")
    if kind.family == "workflow":
        assert workflow_errors(obj) == []
        return
    kubernetes_validate.validate(plain(obj), K8S_VERSION, strict=True)
    path = kind.spec_path
    assert [str(e) for e in validate_job_failure_handling(spec_of(obj, kind), path)] == []
