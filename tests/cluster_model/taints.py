"""The TaintToleration and NodeUnschedulable filters.

TaintToleration is `pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go`
(Filter): the first NoSchedule or NoExecute taint (`helper.DoNotScheduleTaintsFilterFunc`) that
no toleration tolerates (`FindMatchingUntoleratedTaint`,
`staging/src/k8s.io/component-helpers/scheduling/corev1/helpers.go`) refuses the node;
PreferNoSchedule taints only score. A toleration tolerates a taint as
`Toleration.ToleratesTaint` (`staging/src/k8s.io/api/core/v1/toleration.go`) says:

- an empty effect matches every effect, else the effects are equal;
- an empty key matches every key (with Exists), else the keys are equal;
- Exists matches any value; Equal, or an empty operator, needs the same value; Lt and Gt
  compare the values as int64 (both must parse); any other operator matches nothing.

NodeUnschedulable is `plugins/nodeunschedulable/node_unschedulable.go`: a cordoned node
(`spec.unschedulable`) takes only pods tolerating `node.kubernetes.io/unschedulable:NoSchedule`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tests.cluster_model.labels import go_int64

Doc = Mapping[str, Any]

DO_NOT_SCHEDULE = ("NoSchedule", "NoExecute")
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"


def taint_toleration_filter(pod: Doc, taints: Iterable[Doc]) -> str | None:
    """None when every NoSchedule and NoExecute taint is tolerated, else upstream's reason."""
    tolerations = tolerations_of(pod)
    for taint in taints:
        if taint.get("effect") in DO_NOT_SCHEDULE and not any(
            tolerates(t, taint) for t in tolerations
        ):
            return f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
    return None


def unschedulable_filter(pod: Doc, unschedulable: bool) -> str | None:
    tolerated = any(tolerates(t, UNSCHEDULABLE_TAINT) for t in tolerations_of(pod))
    return ERR_REASON_UNSCHEDULABLE if unschedulable and not tolerated else None


def tolerates(toleration: Doc, taint: Doc) -> bool:
    """`Toleration.ToleratesTaint`."""
    effect, key = toleration.get("effect") or "", toleration.get("key") or ""
    if effect and effect != taint.get("effect"):
        return False
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    value, taint_value = toleration.get("value") or "", taint.get("value") or ""
    if operator == "Equal":
        return value == taint_value
    if operator == "Exists":
        return True
    if operator in ("Lt", "Gt"):
        mine, theirs = go_int64(value), go_int64(taint_value)
        if mine is None or theirs is None:
            return False
        return theirs < mine if operator == "Lt" else theirs > mine
    return False


def tolerations_of(pod: Doc) -> list[Doc]:
    return list((pod.get("spec") or {}).get("tolerations") or [])
