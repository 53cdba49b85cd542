"""The NodeResourcesFit filter: the pod's requests against what the node has left.

- The pod as the scheduler reads it is defaulted: a container's limit stands for its missing
  request (`SetDefaults_Pod`, `pkg/apis/core/v1/defaults.go`).
- `pod_requests` is `resource.PodRequests` (`staging/src/k8s.io/component-helpers/resource/
  helpers.go`, `AggregateContainerRequests`): containers add up; sidecars (init containers
  with `restartPolicy: Always`) add up with them; each other init container needs its own
  requests plus the sidecars started before it, and the pod needs the largest of that and the
  sum; pod-level requests (`spec.resources`, cpu, memory and hugepages) replace the containers'
  sum; `spec.overhead` is added on top.
- `resources_fit_filter` is `fitsRequest` (`plugins/noderesources/fit.go`): one more pod than
  `pods` allows, then cpu, memory, ephemeral-storage and every scalar resource (extended,
  hugepages, `kubernetes.io/`-prefixed native, attachable volumes: `IsScalarResourceName`)
  requested above what is allocatable minus what the node's pods already request. A node
  without a resource has none of it: "Insufficient nvidia.com/gpu".

Quantities are read with the official client's `parse_quantity` and rounded up as
`Quantity.MilliValue` (cpu) and `Quantity.Value` (the rest) do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity as _parse_quantity

from tests.cluster_model.labels import is_qualified_name

Doc = Mapping[str, Any]
Amounts = dict[str, Decimal]

POD_LEVEL = re.compile(r"cpu|memory|hugepages-.*")
FIXED = ("cpu", "memory", "ephemeral-storage")


def resources_fit_filter(
    requests: Mapping[str, int], allocatable: Mapping[str, int], used: Iterable[Mapping[str, int]]
) -> str | None:
    """None when the pod fits beside the node's pods (`used`: each one's requests)."""
    used = list(used)
    reasons = []
    if len(used) + 1 > allocatable.get("pods", 0):
        reasons.append("Too many pods")
    wanted = [n for n in FIXED if requests.get(n, 0) > 0]
    wanted += sorted(n for n in requests if n not in FIXED and requests[n] > 0 and is_scalar(n))
    for name in wanted:
        taken = sum(u.get(name, 0) for u in used)
        if requests[name] > allocatable.get(name, 0) - taken:
            reasons.append(f"Insufficient {name}")
    return ", ".join(reasons) or None


def pod_requests(pod: Doc) -> dict[str, int]:
    """What the scheduler counts for the pod, in milli-cpu and whole units of the rest."""
    spec = pod.get("spec") or {}
    total = _containers_requests(spec)
    pod_level = _defaulted(spec.get("resources") or {})
    if any(POD_LEVEL.fullmatch(name) for name in pod_level):
        total |= {n: q for n, q in pod_level.items() if POD_LEVEL.fullmatch(n)}
    for name, quantity in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, Decimal(0)) + parse_quantity(quantity)
    return {name: _canonical(name, quantity) for name, quantity in total.items()}


def allocatable_of(quantities: Mapping[str, Any]) -> dict[str, int]:
    """A node's `status.allocatable` in the units `pod_requests` uses."""
    return {name: _canonical(name, parse_quantity(q)) for name, q in quantities.items()}


def is_scalar(name: str) -> bool:
    """`schedutil.IsScalarResourceName`."""
    return (
        is_extended(name)
        or name.startswith(("hugepages-", "attachable-volumes-"))
        or "kubernetes.io/" in name
    )


def is_extended(name: str) -> bool:
    """`v1helper.IsExtendedResourceName`: not native (no '/' or a kubernetes.io/ name), not
    `requests.`-prefixed, and a qualified name once prefixed with `requests.`."""
    native = "/" not in name or "kubernetes.io/" in name
    return not native and not name.startswith("requests.") and is_qualified_name(f"requests.{name}")


def _containers_requests(spec: Doc) -> Amounts:
    total: Amounts = {}
    for container in spec.get("containers") or []:
        _add(total, _defaulted(container.get("resources") or {}))
    sidecars: Amounts = {}
    init_peak: Amounts = {}
    for container in spec.get("initContainers") or []:
        requests = _defaulted(container.get("resources") or {})
        if container.get("restartPolicy") == "Always":
            _add(total, requests)
            _add(sidecars, requests)
            during = dict(sidecars)
        else:
            during = dict(requests)
            _add(during, sidecars)
        _max(init_peak, during)
    _max(total, init_peak)
    return total


def _defaulted(resources: Doc) -> Amounts:
    """Requests, a limit standing for a missing request (`SetDefaults_Pod`)."""
    merged = dict(resources.get("limits") or {}) | dict(resources.get("requests") or {})
    return {name: parse_quantity(quantity) for name, quantity in merged.items()}


def _add(into: Amounts, more: Mapping[str, Decimal]) -> None:
    for name, quantity in more.items():
        into[name] = into.get(name, Decimal(0)) + quantity


def _max(into: Amounts, other: Mapping[str, Decimal]) -> None:
    for name, quantity in other.items():
        into[name] = max(into.get(name, Decimal(0)), quantity)


def parse_quantity(value: Any) -> Decimal:
    """A quantity as apimachinery's resource.ParseQuantity reads it; ValueError otherwise."""
    return Decimal(_parse_quantity(value))  # type: ignore[no-untyped-call]


def _canonical(name: str, quantity: Decimal) -> int:
    return math.ceil(quantity * 1000) if name == "cpu" else math.ceil(quantity)
