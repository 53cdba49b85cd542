"""A PolicySet compiled for the request path: matchers, each policy's additions with the parts
that do not depend on the pod worked out once, and the index that finds candidate policies."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook import patch
from webhook.kube.scheduling import Node, why_not
from webhook.match.clauses import Check, Failure, compile_match, fixed, glob_matcher
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

    def fits_a_pool(self, pod: Mapping[str, Any], extended: Collection[str]) -> bool:
        return any(why_not(pod, pool.node, extended) is None for pool in self.pools)

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
        (fixed(f"exclude[{i}]", f"excluded by exclude[{i}]"), compile_match(e, f"exclude[{i}]"))
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
    )


def compile_policy_set(policy_set: PolicySet) -> CompiledPolicySet:
    context = Context(pools=policy_set.pools)
    compiled = tuple(compile_policy(p, i, context) for i, p in enumerate(policy_set.policies))
    added_labels = {k for p in policy_set.policies for k in p.spec.add.labels}
    return CompiledPolicySet(
        source=policy_set,
        policies=compiled,
        index=PolicyIndex(compiled, added_labels),
        placement_excluded=glob_matcher(policy_set.settings.placement_excluded_namespaces),
        pools=tuple(pool_of(p) for p in policy_set.pools.values()),
    )


def pool_of(pool: NodePool) -> Pool:
    spec = pool.spec
    taints = tuple((t.key, t.value, t.effect) for t in spec.node_taints)
    return Pool(pool.name, Node(spec.node_labels, taints, spec.extended_resources), pool.spot)
