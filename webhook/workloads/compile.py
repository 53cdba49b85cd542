"""A set's RetryPolicies compiled for the request path: each one's match and excludes as the
checks PlacementPolicies use, in the order they are tried."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.match.clauses import Check, compile_match, first_failure
from webhook.match.facts import PodFacts
from webhook.policy import PolicySet
from webhook.policy.retries import RetryPolicy
from webhook.workloads.kinds import Family


@dataclass(frozen=True)
class CompiledRetry:
    policy: RetryPolicy
    checks: list[Check]
    excludes: tuple[list[Check], ...]

    @property
    def name(self) -> str:
        return self.policy.name

    def gives(self, family: Family) -> bool:
        spec = self.policy.spec
        return (spec.jobs if family == "job" else spec.workflows) is not None

    def matches(self, facts: PodFacts) -> bool:
        return first_failure(self.checks, facts) is None and not any(
            first_failure(checks, facts) is None for checks in self.excludes
        )


@dataclass(frozen=True)
class CompiledRetries:
    source: PolicySet
    policies: tuple[CompiledRetry, ...]

    def first_for(
        self,
        family: Family,
        pod: Mapping[str, Any],
        namespace: str,
        namespace_labels: Mapping[str, str] | None,
    ) -> CompiledRetry | None:
        """The first policy, in order, that gives `family` retries and matches `pod` (as its
        controller creates it)."""
        keys = self.source.settings.platform_label_keys
        facts = PodFacts(pod, namespace, namespace_labels, keys)
        return next((p for p in self.policies if p.gives(family) and p.matches(facts)), None)


def compile_retries(policy_set: PolicySet) -> CompiledRetries:
    return CompiledRetries(
        policy_set,
        tuple(
            CompiledRetry(
                policy,
                compile_match(policy.spec.match),
                tuple(compile_match(e, f"exclude[{i}]") for i, e in enumerate(policy.spec.exclude)),
            )
            for policy in policy_set.retries
        ),
    )


_last: CompiledRetries | None = None


def compiled_retries(policy_set: PolicySet) -> CompiledRetries:
    """`compile_retries`, once per loaded set: the server serves one set at a time, and the
    first review after a reload compiles the new one (a lost race compiles it twice)."""
    global _last
    last = _last
    if last is None or last.source is not policy_set:
        last = _last = compile_retries(policy_set)
    return last
