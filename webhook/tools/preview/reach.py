"""What the set does to one pod's placement, as the preview's columns show it: the declared
pools the pod can reach before and after (`CompiledPolicySet.reachable`, the judgement the
proof and the guard use), whether that moves it onto or off spot, and, when its placement is
unchanged, why."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webhook.engine import CompiledPolicySet, Result
from webhook.kube.pod import MIRROR_ANNOTATION, spec
from webhook.match.facts import PodFacts

Spot = Literal["spot", "on-demand", "either", "none"]
# Why a pod's placement is left as it is, in the order the webhook decides it: the pods it never
# places, those bound to a node or a peer, the pod's own choice, the final judgement (by the
# intent a placement would have broken), unknown namespace labels, audit mode, and no
# placement policy matching.
DAEMONSET, MIRROR, BOUND, PINNED = "daemonset", "mirror pod", "bound", "pinned"
EXCLUDED, KUEUE, OWN = "excluded ns", "kueue", "own placement"
REFUSED = {"runnable": "no pool fits", "resources": "no pool offers", "off-spot": "kept off spot"}
SKIPPED, AUDIT, NO_MATCH = "ns labels ?", "audit", "no match"


@dataclass(frozen=True)
class Reach:
    before: tuple[str, ...] | None  # the pools' names; None when the set declares no pool
    after: tuple[str, ...] | None
    move: Literal["onto spot", "off spot", ""]


def reach(
    compiled: CompiledPolicySet,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    extended: Collection[str],
) -> Reach:
    if not compiled.pools:
        return Reach(None, None, "")
    spot = {p.name: p.spot for p in compiled.pools}
    was = tuple(p.name for p in compiled.reachable(before, extended))
    now = was if after is before else tuple(p.name for p in compiled.reachable(after, extended))
    return Reach(was, now, movement(spot_of(was, spot), spot_of(now, spot)))


def spot_of(names: Sequence[str], spot: Mapping[str, bool]) -> Spot:
    kinds = {spot[n] for n in names}
    if not kinds:
        return "none"
    return "either" if len(kinds) == 2 else ("spot" if True in kinds else "on-demand")


def movement(before: Spot, after: Spot) -> Literal["onto spot", "off spot", ""]:
    """Onto spot: the pod could not run on spot and now can, or now runs on spot only. Off
    spot: it could run on spot and now cannot."""
    could = before in ("spot", "either")
    can = after in ("spot", "either")
    if (can and not could) or (after == "spot" and before != "spot"):
        return "onto spot"
    if could and after == "on-demand":
        return "off spot"
    return ""


def why_unchanged(
    compiled: CompiledPolicySet,
    pod: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    result: Result,
) -> str:
    """Why the webhook leaves the placement of `pod` (as admission saw it) as it is."""
    keys = compiled.settings.platform_label_keys
    facts = PodFacts(pod, namespace, namespace_labels, keys, compiled.nodes)
    owner = facts.owner_kinds[0]
    if owner == "DaemonSet":
        return DAEMONSET
    if owner == "Node" or MIRROR_ANNOTATION in facts.annotations:
        return MIRROR
    if spec(pod).get("nodeName"):
        return BOUND
    if facts.bound:
        return PINNED
    if compiled.placement_excluded(namespace):
        return EXCLUDED
    if compiled.settings.kueue.placement == "leave" and facts.queued:
        return KUEUE
    if facts.own_placement:
        return OWN
    if result.refused:
        return REFUSED.get(result.breaches[result.refused[0]].intent, "refused")
    if result.skipped:
        return SKIPPED
    if result.audited:
        return AUDIT
    return NO_MATCH


def render_pools(names: Sequence[str] | None, declared: int) -> str:
    if names is None:
        return "-"
    if not names:
        return "none"
    if len(names) == declared > 1:
        return f"all {declared}"
    return ",".join(names)
