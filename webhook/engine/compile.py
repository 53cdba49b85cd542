"""A PolicySet compiled for the request path: matchers, each policy's additions with the parts
that do not depend on the pod worked out once, and the index that finds candidate policies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.match.clauses import Check, Failure, compile_match, glob_matcher
from webhook.match.index import PolicyIndex
from webhook.mutations import KINDS, MutationKind
from webhook.policy.load import PolicySet
from webhook.policy.model import MatchSpec, PlacementPolicy, SettingsSpec


@dataclass(frozen=True)
class CompiledAddition:
    kind: MutationKind[Any]
    rule: Any  # what kind.compile made of the policy


@dataclass(frozen=True)
class CompiledPolicy:
    policy: PlacementPolicy
    position: int
    checks: list[Check]
    excludes: tuple[tuple[Failure, list[Check]], ...]  # the failure reported when one holds
    additions: tuple[CompiledAddition, ...]  # in the order kinds run

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def mode(self) -> str:
        return self.policy.spec.mode

    @property
    def match(self) -> MatchSpec:
        return self.policy.spec.match


@dataclass(frozen=True)
class CompiledPolicySet:
    source: PolicySet
    policies: tuple[CompiledPolicy, ...]
    index: PolicyIndex[CompiledPolicy]
    placement_excluded: Callable[[str], bool]

    @property
    def settings(self) -> SettingsSpec:
        return self.source.settings

    def candidates(self, namespace: str, pod_labels: Mapping[str, Any]) -> list[CompiledPolicy]:
        return self.index.candidates(namespace, pod_labels)


def compile_policy(policy: PlacementPolicy, position: int) -> CompiledPolicy:
    spec = policy.spec
    excludes = tuple(
        (Failure(f"exclude[{i}]", f"excluded by exclude[{i}]"), compile_match(e, f"exclude[{i}]"))
        for i, e in enumerate(spec.exclude)
    )
    additions = tuple(
        CompiledAddition(kind, rule)
        for kind in KINDS
        for rule in [kind.compile(spec.add)]
        if rule is not None
    )
    return CompiledPolicy(policy, position, compile_match(spec.match), excludes, additions)


def compile_policy_set(policy_set: PolicySet) -> CompiledPolicySet:
    compiled = tuple(compile_policy(p, i) for i, p in enumerate(policy_set.policies))
    added_labels = {k for p in policy_set.policies for k in p.spec.add.labels}
    return CompiledPolicySet(
        source=policy_set,
        policies=compiled,
        index=PolicyIndex(compiled, added_labels),
        placement_excluded=glob_matcher(policy_set.settings.placement_excluded_namespaces),
    )
