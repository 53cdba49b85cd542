"""A PolicySet compiled for the request path: matchers, each policy's additions with the parts
that do not depend on the pod worked out once, and the index that finds candidate policies."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from webhook import patch
from webhook.kube.pod import NODE_AFFINITY, node_selector, node_selector_terms
from webhook.kube.scheduling import Node, requirements, why_not
from webhook.match.clauses import (
    Check,
    Failure,
    compile_match,
    fixed,
    glob_matcher,
    match_reads,
)
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
    chooses_nodes: bool = False  # it can add tolerations or node affinity (see the guard)
    pool_only: bool = False  # and only through `pool`/`pools`
    depends: frozenset[str] = frozenset()  # the pod facts what it adds depends on


@dataclass(frozen=True)
class Pool:
    name: str
    node: Node
    spot: bool


@dataclass(frozen=True)
class CompiledPolicySet:
    source: PolicySet
    policies: tuple[CompiledPolicy, ...]
    index: PolicyIndex[CompiledPolicy]
    placement_excluded: Callable[[str], bool]
    pools: tuple[Pool, ...] = ()  # the set's NodePools, for the admission guard

    def fits_by_construction(
        self, pod: Mapping[str, Any], extended: Collection[str], pool: int
    ) -> bool:
        """A pod with no node requirements of its own, placed on a pool (its labels required,
        its taints tolerated), fits that pool when the pool offers what it requests."""
        return (
            not node_selector(pod)
            and not node_selector_terms(pod)
            and all(r in self.pools[pool].node.extended_resources for r in extended)
        )

    def fits_a_pool(
        self, pod: Mapping[str, Any], extended: Collection[str], first: tuple[int, ...] = ()
    ) -> bool:
        """Whether some pool can run the pod; the pools at the indexes `first` are tried first
        (those a policy places on: the likely answer)."""
        req = requirements(pod)
        pools = self.pools
        return any(why_not(req, pools[i].node, extended) is None for i in first) or any(
            why_not(req, pool.node, extended) is None for pool in pools
        )

    def reachable(self, pod: Mapping[str, Any], extended: Collection[str]) -> tuple[Pool, ...]:
        """The declared pools whose nodes can run the pod (which requests `extended`)."""
        req = requirements(pod)
        return tuple(p for p in self.pools if why_not(req, p.node, extended) is None)

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
        chooses_nodes=any(chooses_nodes(a.kind) for a in additions),
        pool_only=all(bool(a.kind.parts) for a in additions if chooses_nodes(a.kind)),
        depends=frozenset().union(*(a.kind.depends for a in additions)),
    )


def compile_policy_set(policy_set: PolicySet) -> CompiledPolicySet:
    context = Context(pools=policy_set.pools)
    index = {name: i for i, name in enumerate(policy_set.pools)}
    compiled = tuple(
        replace(compile_policy(p, i, context), pools=_pools_of(p, index))
        for i, p in enumerate(policy_set.policies)
    )
    added_labels = {k for p in policy_set.policies for k in p.spec.add.labels}
    return CompiledPolicySet(
        source=policy_set,
        policies=compiled,
        index=PolicyIndex(compiled, added_labels),
        placement_excluded=glob_matcher(policy_set.settings.placement_excluded_namespaces),
        pools=tuple(pool_of(p) for p in policy_set.pools.values()),
    )


def chooses_nodes(kind: MutationKind[Any]) -> bool:
    """Whether a kind's additions change which nodes can run the pod: tolerations and node
    affinity do; pod affinity, DNS and metadata do not."""
    if kind.parts:
        return any(chooses_nodes(part) for part in kind.parts)
    return kind.placement and (
        kind.path[:2] == ("spec", "tolerations") or kind.path[: len(NODE_AFFINITY)] == NODE_AFFINITY
    )


def _pools_of(policy: PlacementPolicy, index: Mapping[str, int]) -> tuple[int, ...]:
    add = policy.spec.add
    return tuple(index[name] for name in ((add.pool,) if add.pool else add.pools))


def pool_of(pool: NodePool) -> Pool:
    spec = pool.spec
    taints = tuple((t.key, t.value, t.effect) for t in spec.node_taints)
    return Pool(pool.name, Node(spec.node_labels, taints, spec.extended_resources), pool.spot)
