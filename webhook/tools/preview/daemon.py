"""What the DaemonSet controller adds to a template: `AddOrUpdateDaemonPodTolerations` and
`ReplaceDaemonSetPodNodeNameNodeAffinity` (kubernetes `pkg/controller/daemon/util/
daemonset_util.go`), so the pod survives node problems and runs on its one node only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.tools.preview.template import Obj

_NO_EXECUTE = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_NO_SCHEDULE = (
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/unschedulable",
)


def _matches(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    # `Toleration.MatchToleration`: the same key, operator, value and effect.
    return all(a.get(k) == b.get(k) for k in ("key", "operator", "value", "effect"))


def add_or_update_toleration(spec: Obj, toleration: Obj) -> None:
    """`AddOrUpdateTolerationInPodSpec`: a matching toleration is replaced (its
    tolerationSeconds dropped), else the toleration is appended."""
    current = [t for t in spec.get("tolerations") or [] if isinstance(t, Mapping)]
    if any(_matches(t, toleration) for t in current):
        spec["tolerations"] = [toleration if _matches(t, toleration) else t for t in current]
    else:
        spec["tolerations"] = [*current, toleration]


def add_daemon_tolerations(spec: Obj) -> None:
    wanted = [(key, "NoExecute") for key in _NO_EXECUTE]
    wanted += [(key, "NoSchedule") for key in _NO_SCHEDULE]
    if spec.get("hostNetwork"):
        wanted.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in wanted:
        add_or_update_toleration(spec, {"key": key, "operator": "Exists", "effect": effect})


def pin_to_node(affinity: Any, node: str) -> Obj:
    """The affinity with its required node terms replaced by one matchFields term on `node`
    (the controller checked the template's own terms against that node already)."""
    out: Obj = dict(affinity) if isinstance(affinity, Mapping) else {}
    node_affinity = out.get("nodeAffinity")
    node_affinity = dict(node_affinity) if isinstance(node_affinity, Mapping) else {}
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    required = dict(required) if isinstance(required, Mapping) else {}
    required["nodeSelectorTerms"] = [term]
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
    out["nodeAffinity"] = node_affinity
    return out
