"""The objects whose controllers create pods and which this webhook gives retries: where each
keeps its Job spec or its workflow spec.

A CronJob's Job is `spec.jobTemplate.spec` (kubernetes `pkg/apis/batch/types.go`); a
CronWorkflow's workflow is `spec.workflowSpec`, and a WorkflowTemplate's spec is a whole
WorkflowSpec (argo-workflows `pkg/apis/workflow/v1alpha1/cron_workflow_types.go`,
`workflow_template_types.go`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Family = Literal["job", "workflow"]


@dataclass(frozen=True)
class WorkloadKind:
    kind: str
    api_version: str
    resource: str  # the API resource a webhook rule names
    spec_path: tuple[str, ...]  # where the Job spec or the WorkflowSpec is
    family: Family

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


KINDS = (
    WorkloadKind("Job", "batch/v1", "jobs", ("spec",), "job"),
    WorkloadKind("CronJob", "batch/v1", "cronjobs", ("spec", "jobTemplate", "spec"), "job"),
    WorkloadKind("Workflow", "argoproj.io/v1alpha1", "workflows", ("spec",), "workflow"),
    WorkloadKind(
        "CronWorkflow",
        "argoproj.io/v1alpha1",
        "cronworkflows",
        ("spec", "workflowSpec"),
        "workflow",
    ),
    WorkloadKind(
        "WorkflowTemplate", "argoproj.io/v1alpha1", "workflowtemplates", ("spec",), "workflow"
    ),
)
_BY_TYPE = {(k.api_version, k.kind): k for k in KINDS}
RESOURCES = frozenset((k.group, k.resource) for k in KINDS)


def kind_of(obj: Mapping[str, Any]) -> WorkloadKind | None:
    """The kind of `obj` when it is one of KINDS, in the version named there."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if type(api_version) is not str or type(kind) is not str:
        return None
    return _BY_TYPE.get((api_version, kind))


def spec_of(obj: Mapping[str, Any], kind: WorkloadKind) -> Mapping[str, Any]:
    """The Job spec or WorkflowSpec inside `obj` ({} where absent or not an object)."""
    node: Any = obj
    for key in kind.spec_path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}
