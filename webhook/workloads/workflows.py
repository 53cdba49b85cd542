"""An Argo workflow's retries on spot: `spec.templateDefaults.retryStrategy`.

Argo lays the workflow's `templateDefaults` under every template before running it
(`mergedTemplateDefaultsInto`, argo-workflows `workflow/controller/operator.go`), the
template's own fields winning: a step with a retryStrategy of its own keeps it, every other one
is retried as the policy says. A workflow that already decides for all its steps is left as it
is: one with `templateDefaults.retryStrategy`, or with the workflow-wide `spec.retryStrategy`
(`woc.retryStrategy`: a template's own strategy, else that one; ours would take its place).

A Workflow that runs a WorkflowTemplate (`spec.workflowTemplateRef`) is left alone too: Argo
merges the Workflow's spec over the template's (`JoinWorkflowSpec`), so defaults added to the
Workflow would override the template's own; the WorkflowTemplate gets its retries when it is
created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook import patch
from webhook.kube.validation.meta import mapping
from webhook.policy.retries import WorkflowRetries
from webhook.workloads.kinds import WorkloadKind
from webhook.workloads.result import Change, Refusal


def own_retries(spec: Mapping[str, Any]) -> str | None:
    """Why the workflow gets no retries from a policy: it decides for itself."""
    if spec.get("workflowTemplateRef") is not None:
        return (
            "spec.workflowTemplateRef: the WorkflowTemplate's own retries apply (it gets them "
            "when it is created); defaults added here would override them"
        )
    if mapping(spec.get("templateDefaults")).get("retryStrategy") is not None:
        return "spec.templateDefaults.retryStrategy is the workflow's own"
    if spec.get("retryStrategy") is not None:
        return "spec.retryStrategy is the workflow's own, for all its steps"
    return None


def add_template_defaults(
    obj: Mapping[str, Any], kind: WorkloadKind, retries: WorkflowRetries
) -> Change | Refusal:
    strategy = retries.retry_strategy()
    try:
        ops, doc = patch.set_keys(
            obj, (*kind.spec_path, "templateDefaults"), {"retryStrategy": strategy}
        )
    except patch.PatchError as exc:
        return Refusal("invalid", f"the {kind.kind} has {exc}")
    return Change(ops, doc, {"templateDefaults.retryStrategy": strategy})
