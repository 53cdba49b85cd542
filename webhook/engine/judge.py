"""The final judgement: the pod as it will be sent, after every policy, against the declared
node pools and the set's intents.

- **runnable**: a pod that some pool can run is never sent where none can;
- **resources**: a pod requesting an extended resource (a GPU) is placed only where a pool
  offers it;
- **off spot**: a pod of a class the set keeps off spot (`PolicySettings.keepOffSpot`) is not
  made able to land on spot where an on-demand pool can run it, nor made unable to land on
  on-demand (each state worse than the one before: no spot pool, some spot pool, only spot).

Which pools a pod can reach is what kube-scheduler's filters decide from its spec
(`webhook.kube.scheduling`). When the additions break an intent, the policy whose additions
broke it is the one to blame: the last that chose nodes and left the pod worse than it found
it. The engine takes back what that policy adds to choose nodes and runs the set again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from webhook.engine.reach import why_none
from webhook.match.facts import PodFacts

if TYPE_CHECKING:
    from webhook.engine.compile import CompiledPolicySet
    from webhook.engine.reach import Pool

RUNNABLE = "runnable"
RESOURCES = "resources"
OFF_SPOT = "off-spot"
INTENTS = (RUNNABLE, RESOURCES, OFF_SPOT)
EARLIER = "earlier call"  # refused when the apiserver called before (the pod's annotation)


@dataclass(frozen=True, slots=True)
class Placement:
    """One policy's commit that chose nodes: the pod before and after it."""

    policy: str
    before: Any
    after: Any
    pool: int = -1  # the one pool the policy places on, by `pool` alone; -1 otherwise


@dataclass(frozen=True)
class Breach:
    """An intent the pod as it would be sent breaks, and the policies whose node choices
    broke it."""

    intent: str
    policies: tuple[str, ...]
    detail: str  # for people: "the pod would fit no node pool"


def judge(
    compiled: CompiledPolicySet, facts: PodFacts, placements: Sequence[Placement]
) -> Breach | None:
    """None when the pod as `facts` holds it keeps every intent, or when no addition of the
    set broke one (`placements`: the commits that chose nodes, in order)."""
    if not placements or not compiled.pools:
        return None
    extended = facts.extended
    pool = _one_pool(compiled, placements, extended)
    if pool >= 0 and (not compiled.spot_reachable_with[pool] or not compiled.kept_off_spot(facts)):
        return None
    reach = compiled.reachable(facts.pod, extended)
    if not reach:
        return _unrunnable(compiled, facts.pod, extended, placements)
    if not any(pool.spot for pool in reach) or not compiled.kept_off_spot(facts):
        return None
    return _onto_spot(compiled, extended, placements)


def _one_pool(
    compiled: CompiledPolicySet, placements: Sequence[Placement], extended: Collection[str]
) -> int:
    """The pool every placement put the pod on, when that alone shows the pod can run there:
    each placement came from a policy placing on that one pool by `pool` alone, the pod had no
    node requirement of its own to contradict it (so its only required term is the pool's
    labels, and the pool's taints are tolerated), and the pool offers every extended resource
    the pod requests. -1 when the pod must be judged in full."""
    pool = placements[0].pool
    if pool < 0 or any(p.pool != pool for p in placements):
        return -1
    spec = placements[0].before.get("spec")
    if type(spec) is not dict or spec.get("nodeSelector") or spec.get("affinity"):
        return -1
    offered = compiled.pools[pool].node.extended_resources
    return pool if all(r in offered for r in extended) else -1


def _unrunnable(
    compiled: CompiledPolicySet,
    pod: Any,
    extended: Collection[str],
    placements: Sequence[Placement],
) -> Breach | None:
    if compiled.reachable(placements[0].before, extended):
        culprit = next(
            (
                p.policy
                for p in reversed(placements)
                if compiled.reachable(p.before, extended)
                and not compiled.reachable(p.after, extended)
            ),
            placements[-1].policy,
        )
        why = why_none(compiled.pools, pod, extended)
        return Breach(RUNNABLE, (culprit,), f"the pod would fit no node pool: {why}")
    offered = {r for pool in compiled.pools for r in pool.node.extended_resources}
    missing = sorted(r for r in extended if r not in offered)
    # Those that sent it somewhere: they changed which pools it could reach but for its
    # resources (a spread over a key every node may have sends it nowhere).
    senders = tuple(
        dict.fromkeys(
            p.policy
            for p in placements
            if compiled.reachable(p.before, ()) != compiled.reachable(p.after, ())
        )
    )
    if missing and senders:
        named = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if missing[3:] else "")
        return Breach(RESOURCES, senders, f"no node pool offers {named}")
    return None  # it fit no pool before the set either: not the set's doing


def _onto_spot(
    compiled: CompiledPolicySet, extended: Collection[str], placements: Sequence[Placement]
) -> Breach | None:
    if not any(not pool.spot for pool in compiled.reachable(placements[0].before, extended)):
        return None  # no on-demand pool can run it: spot is where it runs
    for placement in reversed(placements):
        after = compiled.reachable(placement.after, extended)
        if _spot_level(after) < _spot_level(compiled.reachable(placement.before, extended)):
            spot = ", ".join(p.name for p in after if p.spot)
            where = "would fit only spot pools" if _spot_level(after) == 0 else "could land on spot"
            detail = f"the pod is kept off spot but {where} ({spot})"
            return Breach(OFF_SPOT, (placement.policy,), detail)
    return None


def _spot_level(reach: Sequence[Pool]) -> int:
    """How far from spot a pod that can reach these pools is: 2 no spot pool, 1 some, 0 only
    spot pools, -1 none at all."""
    if not reach:
        return -1
    spot = sum(pool.spot for pool in reach)
    return 2 if not spot else 1 if spot < len(reach) else 0
