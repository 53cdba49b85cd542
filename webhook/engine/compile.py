"""A PolicySet compiled for the request path: matchers, each policy's additions with the parts
that do not depend on the pod worked out once, and the index that finds candidate policies."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from webhook import patch
from webhook.engine.reach import Pool, PoolIndex
from webhook.kube.scheduling import Node
from webhook.match.clauses import (
    Check,
    Failure,
    compile_match,
    first_failure,
    fixed,
    glob_matcher,
    match_reads,
)
from webhook.match.facts import PodFacts
from webhook.match.index import PolicyIndex
from webhook.mutations import KINDS, MutationKind
from webhook.mutations.kind import Context, Patching
from webhook.policy.load import PolicySet
from webhook.policy.model import MatchSpec, PlacementPolicy, SettingsSpec
from webhook.policy.pools import NodePool

Builder = Callable[[patch.Doc, Sequence[patch.Segment], Any], tuple[list[patch.Op], patch.Doc]]
BUILDERS: dict[Patching, Builder] = {
    Patching.APPEND: patch.append,
    Patching.KEYS: patch.set_keys,
    Patching.EACH_TERM: patch.append_each,
}


@dataclass(frozen=True)
class CompiledAddition:
    kind: MutationKind[Any]
    rule: Any  # what kind.compile made of the policy
    build: Builder | None  # the patch builder for kind.patching (None: a composed kind)


@dataclass(frozen=True)
class CompiledPolicy:
    policy: PlacementPolicy
    position: int
    checks: list[Check]
    excludes: tuple[tuple[Failure, list[Check]], ...]  # the failure reported when one holds
    additions: tuple[CompiledAddition, ...]  # in the order kinds run
    # Read on every review: copied out of the model once.
    name: str
    mode: str
    match: MatchSpec
    pools: tuple[int, ...] = ()  # indexes of the set's pools the policy places on
    chooses_nodes: bool = False  # some kind it uses chooses nodes (see the final judgement)
    pool_only: bool = False  # and only through `pool`/`pools`
    depends: frozenset[str] = frozenset()  # the pod facts what it adds depends on
    # The first clause of its match or excludes that reads the namespace's labels ("" when
    # none does): while they are unknown the policy is skipped, neither matched nor excluded
    # on a guess.
    namespace_clause: str = ""

    @property
    def reads_namespace_labels(self) -> bool:
        return bool(self.namespace_clause)


@dataclass(frozen=True)
class CompiledPolicySet:
    source: PolicySet
    policies: tuple[CompiledPolicy, ...]
    index: PolicyIndex[CompiledPolicy]
    placement_excluded: Callable[[str], bool]
    pools: tuple[Pool, ...] = ()  # the set's NodePools, for the final judgement
    nodes: tuple[Node, ...] = ()  # the pools' nodes, for the pod facts (own placement)
    keep_off_spot: tuple[list[Check], ...] = ()  # PolicySettings keepOffSpot, compiled
    pool_index: PoolIndex = field(default_factory=lambda: PoolIndex(()))
    # Per pool: whether a pod requiring that pool's labels could still land on a spot pool
    # (a spot pool that is this one, or that does not contradict its labels).
    spot_reachable_with: tuple[bool, ...] = ()

    def reachable(self, pod: Mapping[str, Any], extended: Collection[str]) -> tuple[Pool, ...]:
        """The declared pools whose nodes can run the pod (which requests `extended`)."""
        return self.pool_index.reachable(pod, extended)

    def kept_off_spot(self, facts: PodFacts) -> bool:
        """Whether the pod is of a class the set keeps off spot (PolicySettings keepOffSpot)."""
        return any(first_failure(checks, facts) is None for checks in self.keep_off_spot)

    @property
    def settings(self) -> SettingsSpec:
        return self.source.settings

    def candidates(self, namespace: str, pod_labels: Mapping[str, Any]) -> list[CompiledPolicy]:
        return self.index.candidates(namespace, pod_labels)


def compile_policy(
    policy: PlacementPolicy, position: int, context: Context | None = None
) -> CompiledPolicy:
    spec = policy.spec
    excludes = tuple(
        (
            fixed(f"exclude[{i}]", f"excluded by exclude[{i}]", match_reads(e)),
            compile_match(e, f"exclude[{i}]"),
        )
        for i, e in enumerate(spec.exclude)
    )
    additions = tuple(
        CompiledAddition(kind, rule, BUILDERS.get(kind.patching))
        for kind in KINDS
        for rule in [kind.compile(spec.add, context or Context())]
        if rule is not None
    )
    return CompiledPolicy(
        policy,
        position,
        compile_match(spec.match),
        excludes,
        additions,
        policy.name,
        spec.mode,
        spec.match,
        chooses_nodes=any(a.kind.chooses_nodes for a in additions),
        pool_only=all(bool(a.kind.parts) for a in additions if a.kind.chooses_nodes),
        depends=frozenset().union(*(a.kind.depends for a in additions)),
        namespace_clause=next(
            (
                f"{where}.namespaceSelector"
                for where, m in (
                    ("match", spec.match),
                    *((f"exclude[{i}]", e) for i, e in enumerate(spec.exclude)),
                )
                if m.namespace_selector is not None
            ),
            "",
        ),
    )


def compile_policy_set(policy_set: PolicySet) -> CompiledPolicySet:
    context = Context(pools=policy_set.pools)
    index = {name: i for i, name in enumerate(policy_set.pools)}
    compiled = tuple(
        replace(compile_policy(p, i, context), pools=_pools_of(p, index))
        for i, p in enumerate(policy_set.policies)
    )
    added_labels = {k for p in policy_set.policies for k in p.spec.add.labels}
    pools = tuple(pool_of(p) for p in policy_set.pools.values())
    return CompiledPolicySet(
        source=policy_set,
        policies=compiled,
        index=PolicyIndex(compiled, added_labels),
        placement_excluded=glob_matcher(policy_set.settings.placement_excluded_namespaces),
        pools=pools,
        nodes=tuple(p.node for p in pools),
        pool_index=PoolIndex(pools),
        spot_reachable_with=tuple(_spot_reachable_with(pool, pools) for pool in pools),
        keep_off_spot=tuple(compile_match(m) for m in policy_set.settings.keep_off_spot),
    )


def _spot_reachable_with(pool: Pool, pools: tuple[Pool, ...]) -> bool:
    labels = pool.node.labels
    return any(
        other.spot and all(other.node.labels.get(k, v) == v for k, v in labels.items())
        for other in pools
    )


def _pools_of(policy: PlacementPolicy, index: Mapping[str, int]) -> tuple[int, ...]:
    add = policy.spec.add
    return tuple(index[name] for name in ((add.pool,) if add.pool else add.pools))


def pool_of(pool: NodePool) -> Pool:
    spec = pool.spec
    taints = tuple((t.key, t.value, t.effect) for t in spec.node_taints)
    return Pool(pool.name, Node(spec.node_labels, taints, spec.extended_resources), pool.spot)
