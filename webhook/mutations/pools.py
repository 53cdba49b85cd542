"""`pool` and `pools`: place the pod on a declared NodePool, or on an ordered preference of them.

A pool is placed on by requiring its node labels (ANDed into every term, as `nodeAffinity`
does) and tolerating its taints. A preference (`pools: [spot, on-demand]`) requires one label
key to be any of the pools' values, a key whose values admit no other declared pool
(`webhook.policy.pool_labels.preference_key`), and prefers each pool's labels with a weight that
falls with its rank: the scheduler tries the first pool and falls back to the next, and
cluster-autoscaler, which reads only required terms, may grow any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from webhook.kube.pod import Pod
from webhook.kube.pod import tolerations as tolerations_of
from webhook.kube.scheduling import tolerates, toleration_for
from webhook.match.facts import PodFacts
from webhook.mutations import affinity, preferred_affinity, tolerations
from webhook.mutations.kind import Conflict, Context, Items, MutationKind, Patching
from webhook.policy.model import Mutations
from webhook.policy.pool_labels import preference_key
from webhook.policy.pools import NodePool


@dataclass(frozen=True)
class Rule:
    pools: tuple[str, ...]
    taints: tuple[tuple[str, str, str], ...]  # (key, value, effect) of every pool's taints
    required: affinity.Rule
    preferred: tuple[dict[str, Any], ...]


def _labels_as_expressions(pool: NodePool) -> list[dict[str, Any]]:
    labels = pool.spec.node_labels
    return [{"key": k, "operator": "In", "values": [labels[k]]} for k in sorted(labels)]


def rank_weight(rank: int, count: int) -> int:
    """100 for the first pool, falling evenly to 100/count for the last."""
    return max(1, round(100 * (count - rank) / count))


def compile_pools(pools: Sequence[NodePool], declared: Iterable[NodePool]) -> Rule:
    """Placement on `pools` (one, or a preference) among the set's `declared` pools."""
    taints = {(t.key, t.value, t.effect): None for pool in pools for t in pool.spec.node_taints}
    if len(pools) == 1:
        required = affinity.rule_of(_labels_as_expressions(pools[0]))
        preferred: tuple[dict[str, Any], ...] = ()
    else:
        key = preference_key(pools, declared)
        assert key is not None  # the loader refuses a preference without one
        values = list(dict.fromkeys(p.spec.node_labels[key] for p in pools))
        required = affinity.rule_of([{"key": key, "operator": "In", "values": values}])
        preferred = tuple(
            {
                "weight": rank_weight(rank, len(pools)),
                "preference": {"matchExpressions": _labels_as_expressions(pool)},
            }
            for rank, pool in enumerate(pools)
        )
    return Rule(tuple(p.name for p in pools), tuple(taints), required, preferred)


def _compile(add: Mutations, context: Context) -> Rule | None:
    names = (add.pool,) if add.pool else add.pools
    if not names:
        return None
    return compile_pools([context.pools[name] for name in names], context.pools.values())


def untolerated(pod: Pod, taints: Sequence[tuple[str, str, str]]) -> list[dict[str, str]]:
    """A toleration for each taint the pod does not tolerate yet (a GPU pod already tolerates
    `nvidia.com/gpu` with Exists: no second, narrower toleration for the same taint)."""
    present = tolerations_of(pod)
    return [
        toleration_for(taint) for taint in taints if not any(tolerates(t, taint) for t in present)
    ]


def _missing(pod: Pod, rule: Rule, facts: PodFacts) -> tuple[Items, list[Conflict]]:
    plan, conflicts = affinity.required_plan(pod, rule.required)
    preferred = preferred_affinity.missing_preferred(pod, rule.preferred) if rule.preferred else []
    parts = [
        (tolerations.KIND, untolerated(pod, rule.taints) if rule.taints else []),
        (affinity.KIND, plan),
        (preferred_affinity.KIND, preferred),
    ]
    return [(kind, items) for kind, items in parts if items], conflicts


PARTS = (tolerations.KIND, affinity.KIND, preferred_affinity.KIND)
KIND = MutationKind(
    name="pool",
    reads=("pool", "pools"),
    path=(),
    patching=Patching.COMPOSED,
    placement=True,
    chooses_nodes=True,
    stale=frozenset().union(*(part.stale for part in PARTS)),
    compile=_compile,
    missing=_missing,
    parts=PARTS,
)
