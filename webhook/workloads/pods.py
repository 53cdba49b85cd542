"""The pods a workload's controller will create, as the webhook judges them at the workload's
CREATE: a Job's (or a CronJob's Job's) first pod, each pod template of an Argo workflow."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# The Job and CronJob controllers' pod building, shared with `placement-webhook preview` (it
# reads no clock and does no I/O).
from webhook.tools.preview.controllers import pod_of_cronjob, pod_of_job
from webhook.tools.preview.template import NoTemplate
from webhook.workloads.argo_pods import StepPod, step_pods
from webhook.workloads.kinds import WorkloadKind, spec_of

# A CronJob names its Jobs after the scheduled minute (`getJobFromTemplate2`), which is not
# known when the CronJob is created: a fixed one keeps the review pure and repeatable.
SCHEDULED = datetime(2000, 1, 1, tzinfo=UTC)


def template_pods(
    obj: Mapping[str, Any], kind: WorkloadKind, limit: int | None = None
) -> list[StepPod]:
    """The pods to judge (a workflow's first `limit`); none for a Job without a pod template
    (the apiserver refuses it)."""
    if kind.family == "workflow":
        return step_pods(obj, spec_of(obj, kind), limit)
    build = pod_of_cronjob if kind.kind == "CronJob" else pod_of_job
    try:
        return [StepPod("", build(obj, SCHEDULED))]
    except NoTemplate:
        return []
