"""Retries for work the set sends to spot: Jobs, CronJobs and Argo workflows gain what keeps an
eviction from failing them (`review`), when the set would send their pods to a spot pool
(`spot`, judged on the pods their controllers create: `pods`)."""

from webhook.workloads.kinds import KINDS, RESOURCES, WorkloadKind, kind_of
from webhook.workloads.result import REFUSALS, Judged, WorkloadResult
from webhook.workloads.review import review_workload
from webhook.workloads.spot import Placement, sends_to_spot

__all__ = [
    "KINDS",
    "REFUSALS",
    "RESOURCES",
    "Judged",
    "Placement",
    "WorkloadKind",
    "WorkloadResult",
    "kind_of",
    "review_workload",
    "sends_to_spot",
]
