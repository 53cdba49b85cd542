"""The core: (compiled policies, pod, namespace) -> JSON Patch and a report. Pure: no I/O.

Policies run in order; each sees the pod as the policies before it left it, so a routing policy
sees the placement a spot policy just added. Then again, as long as another policy's additions
changed what decided one that did not apply: one call reaches the fixed point that the
apiserver's reinvocation would otherwise find. A policy that fails on a pod is skipped and
reported; it never blocks the pod.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

from webhook.engine.compile import CompiledPolicy, CompiledPolicySet
from webhook.engine.result import PolicyOutcome, Result
from webhook.engine.state import Run
from webhook.engine.steps import add_provenance, commit, keep_runnable, run_policy
from webhook.match.clauses import Failure, first_failure
from webhook.match.facts import VALUE_FACTS, PodFacts

# Passes over the policies: a chain of policies each matching on what a later one adds needs
# one per link; each pass after the first runs only the policies another one's additions
# concern.
MAX_PASSES = 8
DONE: frozenset[str] = frozenset()  # what can change the verdict of a policy that is done
NEW = (-1, DONE)  # a policy not run yet: a candidate now, by a label another policy added
POSITION = operator.attrgetter("position")
UNKNOWN = object()  # a fact's value before a commit, when nothing had read it
# Kueue adds its ResourceFlavor's nodeSelector at admission; a required node affinity added
# here is ANDed with it and can name another pool (webhook.kube.kueue).
KUEUE_PLACES = "managed by Kueue: its ResourceFlavor places it"


def mutate(
    compiled: CompiledPolicySet,
    pod: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None = None,
    *,
    explain: bool = False,
    guard: bool = True,
    place: bool = True,
) -> Result:
    """Run every policy on `pod` and return the patch that applies their additions.

    Policies run in order, then again while one that did not apply may now (a fixed point:
    when the apiserver reinvokes the webhook, nothing more is added whatever the order).
    `explain`: report every policy, matched or not. `guard` False lets a placement that fits
    no pool through, and `place` False adds no placement at all (the placement proof compares
    the two)."""
    run = start(compiled, pod, namespace, namespace_labels)
    if not place:
        run.placement_blocked = "placement not asked for"
    policies = list(compiled.policies if explain else run.candidates())
    for _ in range(MAX_PASSES):
        commits = len(run.changed)
        for policy in policies:
            try_policy(run, policy, explain, guard)
        policies = to_try_again(run, policies, commits, explain)
        if not policies:
            break
    else:
        run.warnings.append(f"policies still adding after {MAX_PASSES} passes: stopped")
    if run.retried:  # the last verdict of each policy, in the order of the set
        last = {o.name: o for o in run.outcomes}
        run.outcomes = sorted(last.values(), key=POSITION)
    add_provenance(run, compiled.settings.annotation_key)
    return Result(
        run.ops,
        run.applied,
        run.warnings,
        run.outcomes,
        run.facts.pod,
        run.audited,
        run.errors,
        run.refused,
        run.invalid,
        run.provenance,
    )


def to_try_again(
    run: Run, policies: list[CompiledPolicy], commits: int, explain: bool
) -> list[CompiledPolicy]:
    """After a pass that changed the pod: the policies whose match, or whose additions, the
    changes since they last ran may decide otherwise; and, when a label changed, those the
    label index now offers."""
    if len(run.changed) == commits:
        return []  # a pass that changed nothing: the fixed point
    # since[i]: the facts made stale by commit i and the commits after it.
    since: list[set[str]] = [set()] * (len(run.changed) + 1)
    for i in range(len(run.changed) - 1, -1, -1):
        since[i] = since[i + 1] | run.changed[i]
    if not explain and "labels" in since[commits]:
        policies = run.candidates()
    values: dict[str, Any] = {}  # VALUE_FACTS as they are now, read when first needed
    again = []
    for policy in policies:
        mark, reads = run.tried.get(policy.name, NEW)
        if mark < 0:
            again.append(policy)
            continue
        stale = reads & since[mark]
        if stale and any(changed(run, name, mark, values) for name in stale):
            again.append(policy)
    return again


def changed(run: Run, name: str, mark: int, values: dict[str, Any]) -> bool:
    """Whether fact `name`, made stale since commit `mark`, changed: a fact read whole
    (VALUE_FACTS) only if its value now differs from its value before one of those commits."""
    if name not in VALUE_FACTS:
        return True
    if name not in values:
        values[name] = getattr(run.facts, name)
    return any(
        run.before[i].get(name, UNKNOWN) != values[name]
        for i in range(mark, len(run.changed))
        if name in run.changed[i]
    )


def try_policy(run: Run, policy: CompiledPolicy, explain: bool, guard: bool) -> None:
    """Match one policy and apply what it adds. Done, never run again in this review: applied,
    audited, failed, or refused by the guard or the apiserver's rules."""
    name = policy.name
    run.retried = run.retried or name in run.tried
    failure = match_policy(policy, run.facts)
    run.tried[name] = (len(run.changed), policy.depends if failure is None else failure.reads)
    if failure is not None:
        if explain:
            reason = failure.describe(run.facts)
            run.outcomes.append(
                PolicyOutcome(
                    name, policy.mode, False, failure.clause, reason, position=policy.position
                )
            )
        return
    computed = run_policy(run, policy)
    if computed is not None and guard and run.compiled.pools:
        computed = keep_runnable(run, policy, computed)
    if computed is not None and computed.additions:
        commit(run, policy, computed)
    if computed is None or computed.additions or name in run.refused:
        run.tried[name] = (0, DONE)


def start(
    compiled: CompiledPolicySet,
    pod: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
) -> Run:
    """The review before any policy: its facts and whether placement may be added at all."""
    settings = compiled.settings
    facts = PodFacts(pod, namespace, namespace_labels, settings.platform_label_keys)
    blocked: str | None = None
    if facts.pinned:
        blocked = "daemonset, mirror or bound pod: placement is never added"
    elif compiled.placement_excluded(namespace):
        blocked = f"namespace {namespace!r} is excluded from placement"
    elif settings.kueue.placement == "leave" and facts.queued:
        blocked = KUEUE_PLACES
    return Run(compiled, facts, blocked)


def match_policy(policy: CompiledPolicy, facts: PodFacts) -> Failure | None:
    """None when the policy applies: its match holds and none of its excludes does."""
    failure = first_failure(policy.checks, facts)
    if failure is not None:
        return failure
    for excluded, checks in policy.excludes:
        if first_failure(checks, facts) is None:
            return excluded
    return None
