"""The core: (compiled policies, pod, namespace) -> JSON Patch and a report. Pure: no I/O.

Policies run in order; each sees the pod as the policies before it left it, so a routing policy
sees the placement a spot policy just added. A policy that fails on a pod is skipped and
reported; it never blocks the pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook import patch
from webhook.engine.compile import BUILDERS, Builder, CompiledPolicy, CompiledPolicySet
from webhook.engine.result import Additions, PolicyOutcome, Result
from webhook.kube.pod import annotations_of
from webhook.kube.validation import dotted
from webhook.match.clauses import Failure, first_failure
from webhook.match.facts import PodFacts
from webhook.mutations.annotations import exceeds_annotation_limit
from webhook.mutations.kind import Conflict, Items, MutationKind

WARNING_LIMIT = 120  # characters; the Kubernetes docs advise short warnings
# Passes over the policies: a chain of policies each matching on what a later one adds needs
# one per link; each pass after the first runs only the policies another one's additions
# concern.
MAX_PASSES = 8
DONE: frozenset[str] = frozenset()  # what can change the verdict of a policy that is done
NEW = (-1, DONE)  # a policy not run yet: a candidate now, by a label another policy added
# Kueue adds its ResourceFlavor's nodeSelector at admission; a required node affinity added
# here is ANDed with it and can name another pool (webhook.kube.kueue).
KUEUE_PLACES = "managed by Kueue: its ResourceFlavor places it"


@dataclass(slots=True)
class Run:
    """One pod on its way through the policies: what they did so far."""

    compiled: CompiledPolicySet
    facts: PodFacts  # facts.pod: the pod as the policies so far left it
    placement_blocked: str | None
    ops: list[patch.Op] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    outcomes: list[PolicyOutcome] = field(default_factory=list)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)  # (noun, key) -> policy
    refused: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    provenance: list[str] = field(default_factory=list)  # the policies the pod's annotation lists
    # The fixed point: the stale facts of each commit in order; per policy, len(changed) when
    # it last ran and the facts that could change its verdict (none once it is done: applied,
    # audited, failed or refused); whether one ran twice.
    changed: list[set[str]] = field(default_factory=list)
    tried: dict[str, tuple[int, frozenset[str]]] = field(default_factory=dict)
    retried: bool = False

    def candidates(self) -> list[CompiledPolicy]:
        """The policies the index offers for the pod as it is now."""
        return self.compiled.candidates(self.facts.namespace, self.facts.labels)


@dataclass(slots=True)
class Computed:
    """What one policy adds to the pod as it is now: the additions, and their patch."""

    additions: Additions
    conflicts: list[Conflict]
    ops: list[patch.Op]
    pod: patch.Doc
    stale: set[str]
    refused_by_apiserver: str | None = None  # the first rule its additions would break


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
    if run.retried:  # outcomes in the order of the set
        position = {p.name: p.position for p in compiled.policies}
        run.outcomes.sort(key=lambda o: position[o.name])
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
    # since[i]: the facts changed by commit i and after it.
    since: list[set[str]] = [set()] * (len(run.changed) + 1)
    for i in range(len(run.changed) - 1, -1, -1):
        since[i] = since[i + 1] | run.changed[i]
    if not explain and "labels" in since[commits]:
        policies = run.candidates()
    tried = run.tried
    again = []
    for policy in policies:
        mark, reads = tried.get(policy.name, NEW)
        if mark < 0 or not reads.isdisjoint(since[mark]):
            again.append(policy)
    return again


def try_policy(run: Run, policy: CompiledPolicy, explain: bool, guard: bool) -> None:
    """Match one policy and apply what it adds. Done, never run again in this review: applied,
    audited, failed, or refused by the guard or the apiserver's rules."""
    name = policy.name
    if name in run.tried:
        run.retried = True
        run.outcomes = [o for o in run.outcomes if o.name != name]
    failure = match_policy(policy, run.facts)
    run.tried[name] = (len(run.changed), policy.depends if failure is None else failure.reads)
    if failure is not None:
        if explain:
            reason = failure.describe(run.facts)
            run.outcomes.append(PolicyOutcome(name, policy.mode, False, failure.clause, reason))
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


def run_policy(run: Run, policy: CompiledPolicy) -> Computed | None:
    """What a matching policy adds; a policy that fails here is skipped, never the pod."""
    outcome = PolicyOutcome(policy.name, policy.mode, True)
    run.outcomes.append(outcome)
    if run.placement_blocked:
        outcome.notes.append(run.placement_blocked)
    try:
        computed = compute(policy, run.facts, placement=run.placement_blocked is None)
    except Exception as exc:  # a policy's own bug must never block a pod: skip it
        outcome.error = f"{type(exc).__name__}: {exc}"
        run.errors.append(f"policy {policy.name}: {outcome.error}")
        run.warnings.append(short(f"policy {policy.name} skipped: internal error"))
        return None
    outcome.additions = computed.additions
    if computed.refused_by_apiserver is not None:
        refuse_invalid(run, policy, outcome, computed.refused_by_apiserver)
        return None
    if computed.conflicts:
        report_conflicts(run, policy.name, outcome, computed.conflicts)
    return computed


def compute(policy: CompiledPolicy, facts: PodFacts, placement: bool) -> Computed:
    """Each kind the policy uses, in order, against the pod as the kinds before it left it."""
    computed = Computed(Additions(), [], [], facts.pod, set())
    for addition in policy.additions:
        kind = addition.kind
        if kind.placement and not placement:
            continue
        items, conflicts = kind.missing(computed.pod, addition.rule, facts)
        computed.conflicts += conflicts
        if not items:
            continue
        if addition.build is None:  # a kind made of others: each part is patched as its own
            assert isinstance(items, list)
            for part, part_items in items:
                add_items(computed, part, part_items, BUILDERS[part.patching])
        else:
            add_items(computed, kind, items, addition.build)
    return computed


def add_items(computed: Computed, kind: MutationKind[Any], items: Items, build: Builder) -> None:
    before = computed.pod
    ops, computed.pod = build(before, kind.path, items)
    if computed.refused_by_apiserver is None:
        errors = kind.check(items, before, computed.pod)
        if errors:
            computed.refused_by_apiserver = f"{dotted(errors[0].path)}: {errors[0].body()}"
    computed.ops += ops
    computed.additions.by_kind.append((kind, items))
    computed.stale.update(kind.stale)


def keep_runnable(run: Run, policy: CompiledPolicy, computed: Computed) -> Computed:
    """The guard: a policy whose placement would leave a pod that fits some declared pool
    fitting none adds everything but its placement. The webhook never makes a runnable pod
    unrunnable."""
    if not policy.chooses_nodes or not computed.additions:
        return computed
    extended, compiled = run.facts.extended, run.compiled
    if (
        policy.pool_only
        and len(policy.pools) == 1
        and compiled.fits_by_construction(run.facts.pod, extended, policy.pools[0])
    ):
        return computed
    if compiled.fits_a_pool(computed.pod, extended, policy.pools) or not compiled.fits_a_pool(
        run.facts.pod, extended
    ):
        return computed
    run.refused.append(policy.name)
    run.warnings.append(
        short(f"policy {policy.name}: placement not added, the pod would fit no node pool")
    )
    outcome = run.outcomes[-1]
    outcome.notes.append("placement not added: with it the pod fits no declared node pool")
    kept = compute(policy, run.facts, placement=False)
    outcome.additions = kept.additions
    return kept


def refuse_invalid(run: Run, policy: CompiledPolicy, outcome: PolicyOutcome, why: str) -> None:
    """The last line of defence: kube-apiserver would refuse the pod with this policy's
    additions (HTTP 422, whatever the failurePolicy), so the pod is admitted without them."""
    run.invalid.append(policy.name)
    run.warnings.append(short(f"policy {policy.name} not applied: the apiserver would refuse it"))
    outcome.notes.append(f"not applied: the apiserver would refuse the pod ({why})")


def report_conflicts(
    run: Run, name: str, outcome: PolicyOutcome, conflicts: list[Conflict]
) -> None:
    """A value kept over this policy's: a warning when another policy set it, else a note."""
    for conflict in conflicts:
        owner = run.owners.get((conflict.what, conflict.key))
        if owner is None:
            outcome.notes.append(f"{conflict.what} {conflict.key}: the pod's own value kept")
            continue
        run.warnings.append(
            short(f"policy {name}: {conflict.what} {conflict.key} kept from policy {owner}")
        )
        outcome.notes.append(f"{conflict.what} {conflict.key}: policy {owner} set it first")


def commit(run: Run, policy: CompiledPolicy, computed: Computed) -> None:
    """Apply what the policy adds, or in audit mode only report it."""
    if policy.mode == "audit":
        run.audited.append(policy.name)
        parts = ", ".join(computed.additions.as_dict())
        run.warnings.append(short(f"policy {policy.name} (audit) would add: {parts}"))
        return
    for kind, items in computed.additions.by_kind:
        if kind.noun:
            for key in kind.keys(items):
                run.owners.setdefault((kind.noun, key), policy.name)
    run.ops += computed.ops
    run.applied.append(policy.name)
    run.changed.append(computed.stale)
    run.facts.advance(computed.pod, computed.stale)


def add_provenance(run: Run, key: str) -> None:
    """Name the policies that changed the pod, after those an earlier call named (the
    apiserver reinvokes webhooks). Not added when it would take the pod's annotations past
    the apiserver's total size limit."""
    if not run.applied:
        return
    pod = run.facts.pod
    listed = [n for n in str(annotations_of(pod).get(key) or "").split(",") if n]
    run.provenance = listed + [n for n in run.applied if n not in listed]
    value = ",".join(run.provenance)
    if exceeds_annotation_limit(pod, key, value):
        run.warnings.append(short(f"annotation {key} not added: the pod's annotations are full"))
        return
    try:
        ops, pod = patch.set_keys(pod, ("metadata", "annotations"), {key: value})
    except patch.PatchError as exc:
        run.warnings.append(short(f"annotation {key} not added: {exc}"))
        return
    run.ops += ops
    run.facts.advance(pod, ("annotations", "workload"))


def short(text: str) -> str:
    return text if len(text) <= WARNING_LIMIT else text[: WARNING_LIMIT - 3] + "..."
