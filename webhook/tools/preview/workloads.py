"""Jobs, CronJobs and Argo workflows in a preview: a row for each pod their controllers create
(a Job's first pod; one per workflow template), and the retries the workload gains on spot
(the RetryPolicy among the row's policies, its warnings among the row's)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webhook.engine import CompiledPolicySet
from webhook.kube.pod import metadata
from webhook.tools.preview.controllers import Built
from webhook.tools.preview.template import name_of
from webhook.workloads import kind_of, review_workload
from webhook.workloads.argo_pods import step_pods
from webhook.workloads.kinds import spec_of


@dataclass(frozen=True)
class Retries:
    policies: tuple[str, ...] = ()  # the RetryPolicy that gave the workload retries
    warnings: tuple[str, ...] = ()


def workload_pods(obj: Mapping[str, Any], now: datetime) -> list[Built]:
    """The pods of an Argo workflow, one per template that runs one; [] for anything else
    (a Job's and a CronJob's pod come from `build_pod`, as every other workload's)."""
    kind = kind_of(obj)
    if kind is None or kind.family != "workflow":
        return []
    return [
        Built(step.pod, f"{kind.kind}/{name_of(obj)}:{step.template or '-'}")
        for step in step_pods(obj, spec_of(obj, kind))
    ]


def workload_retries(
    obj: Mapping[str, Any],
    compiled: CompiledPolicySet,
    default_namespace: str,
    labels_of: Callable[[str], Mapping[str, str] | None],
) -> Retries:
    if kind_of(obj) is None:
        return Retries()
    namespace = str(metadata(obj).get("namespace") or default_namespace)
    result = review_workload(compiled, obj, namespace, labels_of(namespace))
    added = (result.policy,) if result.policy is not None and result.ops else ()
    return Retries(added, tuple(result.warnings))
