"""The steps of one matching policy on one pod: what it adds (kind by kind, each checked by the
apiserver's rules for what it does to the pod around it), the guard that keeps the pod
runnable, and the commit; then the provenance annotation naming the policies that applied."""

from __future__ import annotations

from typing import Any

from webhook import patch
from webhook.engine.compile import BUILDERS, Builder, CompiledPolicy
from webhook.engine.result import Additions, PolicyOutcome
from webhook.engine.state import Computed, Run, short
from webhook.kube.pod import annotations_of
from webhook.kube.validation import dotted
from webhook.match.facts import VALUE_FACTS, PodFacts
from webhook.mutations.annotations import exceeds_annotation_limit
from webhook.mutations.kind import Conflict, Items, MutationKind


def run_policy(run: Run, policy: CompiledPolicy) -> Computed | None:
    """What a matching policy adds; a policy that fails here is skipped, never the pod."""
    outcome = PolicyOutcome(policy.name, policy.mode, True, position=policy.position)
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
    if kind.keyed:
        computed.stale.update(f"{kind.keyed}/{key}" for key in kind.keys(items))


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
    run.before.append(run.facts.known(VALUE_FACTS & computed.stale))
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
