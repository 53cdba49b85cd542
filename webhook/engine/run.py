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
from dataclasses import replace
from typing import Any

from webhook.engine.compile import CompiledPolicy, CompiledPolicySet
from webhook.engine.judge import EARLIER, Breach, judge
from webhook.engine.result import PolicyOutcome, Result
from webhook.engine.state import Run, short
from webhook.engine.steps import add_provenance, commit, listed_in, run_policy
from webhook.match.clauses import Failure, first_failure
from webhook.match.facts import VALUE_FACTS, PodFacts

# Passes over the policies: a chain of policies each matching on what a later one adds needs
# one per link; each pass after the first runs only the policies another one's additions
# concern.
MAX_PASSES = 8
# Runs of the set after the first, each with one more policy's node choices taken back; past
# it, every policy that chose nodes loses its choices (a last run that adds none).
MAX_REFUSALS = 4
REFUSED_EARLIER = "refused when the apiserver called before (the pod's annotation says so)"
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
    when the apiserver reinvokes the webhook, nothing more is added whatever the order). Then
    the final judgement (`judge`): when the additions break an intent of the set, the node
    choices of the policy that broke it are taken back and the set runs again.
    `explain`: report every policy, matched or not. `guard` False sends what the policies add
    unjudged, and `place` False adds no placement at all (the placement proof compares the
    three)."""
    stripped = {name: Breach(EARLIER, (name,), REFUSED_EARLIER) for name in
                listed_in(pod, compiled.settings.refused_annotation_key)}  # fmt: skip
    blocked = None if place else "placement not asked for"
    while True:
        run = run_policies(compiled, pod, namespace, namespace_labels, explain, stripped, blocked)
        if not guard or not run.placements:
            break
        if run.placement_blocked is None and leaves_to_kueue(compiled, run):
            blocked = KUEUE_PLACES  # a policy added what makes Kueue place the pod
            continue
        breach = judge(compiled, run.facts, run.placements)
        if breach is None:
            break
        if sum(b.intent != EARLIER for b in stripped.values()) >= MAX_REFUSALS:
            placers = tuple(dict.fromkeys(p.policy for p in run.placements))
            breach = replace(breach, policies=placers)  # no more runs: take back every one
        stripped.update((name, breach) for name in breach.policies)
    if run.retried:  # the last verdict of each policy, in the order of the set
        last = {o.name: o for o in run.outcomes}
        run.outcomes = sorted(last.values(), key=POSITION)
    report_refusals(run)
    settings = compiled.settings
    add_provenance(run, settings.annotation_key, settings.refused_annotation_key)
    return Result(
        run.ops,
        run.applied,
        run.warnings,
        run.outcomes,
        run.facts.pod,
        run.audited,
        run.errors,
        [name for name, b in run.stripped.items() if b.intent != EARLIER],
        run.invalid,
        run.provenance,
        {name: b for name, b in run.stripped.items() if b.intent != EARLIER},
        run.skipped,
        run.placements,
    )


def run_policies(
    compiled: CompiledPolicySet,
    pod: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    explain: bool,
    stripped: dict[str, Breach],
    blocked: str | None,
) -> Run:
    """The policies in order, then again until the fixed point (MAX_PASSES at most)."""
    run = start(compiled, pod, namespace, namespace_labels, blocked)
    run.stripped = stripped
    policies = list(compiled.policies if explain else run.candidates())
    for _ in range(MAX_PASSES):
        commits = len(run.changed)
        for policy in policies:
            try_policy(run, policy, explain)
        policies = to_try_again(run, policies, commits, explain)
        if not policies:
            break
    else:
        run.warnings.append(f"policies still adding after {MAX_PASSES} passes: stopped")
    return run


def leaves_to_kueue(compiled: CompiledPolicySet, run: Run) -> bool:
    """Kueue places the pod as the policies left it, although it did not when they started."""
    return compiled.settings.kueue.placement == "leave" and run.facts.queued


def report_refusals(run: Run) -> None:
    """A warning for each policy whose node choices the judgement took back in this call."""
    for name, breach in run.stripped.items():
        if breach.intent != EARLIER:
            text = f"policy {name}: placement not added ({breach.intent}): {breach.detail}"
            run.warnings.append(short(text))
    if run.skipped:
        names = ", ".join(run.skipped)
        run.warnings.append(short(f"namespace labels unknown: policies skipped: {names}"))


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


def try_policy(run: Run, policy: CompiledPolicy, explain: bool) -> None:
    """Match one policy and apply what it adds. Done, never run again in this review: applied,
    audited, failed, refused by the apiserver's rules, or skipped on unknown namespace labels."""
    name = policy.name
    run.retried = run.retried or name in run.tried
    if policy.reads_namespace_labels and run.facts.namespace_labels is None:
        skip_unknown_namespace(run, policy, explain)
        return
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
    if computed is not None and computed.additions:
        commit(run, policy, computed)
    if computed is None or computed.additions:
        run.tried[name] = (0, DONE)


def skip_unknown_namespace(run: Run, policy: CompiledPolicy, explain: bool) -> None:
    """A policy whose match or exclude reads the namespace's labels, while they are unknown:
    neither matched nor excluded on a guess (an exclude that cannot hold would let it place a
    pod it means to leave alone)."""
    run.tried[policy.name] = (0, DONE)
    if policy.name not in run.skipped:
        run.skipped.append(policy.name)
    if explain:
        run.outcomes.append(
            PolicyOutcome(
                policy.name,
                policy.mode,
                False,
                policy.namespace_clause,
                "namespace labels unknown: skipped",
                position=policy.position,
            )
        )


def start(
    compiled: CompiledPolicySet,
    pod: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    blocked: str | None = None,
) -> Run:
    """The review before any policy: its facts and whether placement may be added at all."""
    settings = compiled.settings
    facts = PodFacts(pod, namespace, namespace_labels, settings.platform_label_keys, compiled.nodes)
    if blocked is None:
        blocked = placement_blocked(compiled, facts)
    choice = f"{facts.bound}: nothing that chooses nodes is added" if facts.bound else None
    return Run(compiled, facts, blocked, choice_blocked=choice)


def placement_blocked(compiled: CompiledPolicySet, facts: PodFacts) -> str | None:
    """Why no placement may be added to the pod, if it may not."""
    if facts.never_placed:
        return f"{facts.never_placed}: placement is never added"
    if compiled.placement_excluded(facts.namespace):
        return f"namespace {facts.namespace!r} is excluded from placement"
    if compiled.settings.kueue.placement == "leave" and facts.queued:
        return KUEUE_PLACES
    return None


def match_policy(policy: CompiledPolicy, facts: PodFacts) -> Failure | None:
    """None when the policy applies: its match holds and none of its excludes does."""
    failure = first_failure(policy.checks, facts)
    if failure is not None:
        return failure
    for excluded, checks in policy.excludes:
        if first_failure(checks, facts) is None:
            return excluded
    return None
