"""Whether the set sends a pod to spot: the one place that judges it.

The pod is placed as the webhook would place it (the engine, with every policy of the set),
then judged against the set's NodePools: the pools whose nodes could run it. Work "goes to
spot" as soon as one of those pools is spot, not only when all are: the scheduler may put it
on a spot node, and from then on an eviction can end it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.engine import CompiledPolicySet, mutate
from webhook.engine.reach import Pool
from webhook.kube.pod import requested_resources
from webhook.kube.resources import extended_resources


@dataclass(frozen=True)
class Placement:
    pod: Mapping[str, Any]  # the pod as the webhook leaves it
    pools: tuple[Pool, ...]  # the declared pools that can run it

    @property
    def spot(self) -> bool:
        return any(pool.spot for pool in self.pools)

    @property
    def spot_pools(self) -> tuple[str, ...]:
        return tuple(pool.name for pool in self.pools if pool.spot)


def sends_to_spot(
    compiled: CompiledPolicySet,
    pod: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
) -> Placement:
    """The pod's placement by the set; `.spot` says whether a spot pool can run it."""
    placed = mutate(compiled, pod, namespace, namespace_labels).pod
    extended = extended_resources(requested_resources(placed))
    return Placement(placed, compiled.reachable(placed, extended))
