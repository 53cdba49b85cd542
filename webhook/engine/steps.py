"""The steps of one matching policy on one pod: what it adds (kind by kind, each checked by the
apiserver's rules for what it does to the pod around it, its node choices left out when the
final judgement took them back), and the commit; then the provenance annotations naming the
policies that applied and those whose placement was refused."""

from __future__ import annotations

from typing import Any

from webhook import patch
from webhook.engine.compile import BUILDERS, Builder, CompiledPolicy
from webhook.engine.judge import EARLIER, Placement
from webhook.engine.result import Additions, PolicyOutcome
from webhook.engine.state import Computed, Run, short
from webhook.kube.pod import Pod, annotations_of
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
    elif run.choice_blocked and policy.chooses_nodes:
        outcome.notes.append(run.choice_blocked)
    breach = run.stripped.get(policy.name)
    if breach is not None and policy.chooses_nodes:
        outcome.notes.append(f"placement not added: {breach.detail} ({breach.intent})")
    choose = breach is None and run.choice_blocked is None
    try:
        computed = compute(
            policy, run.facts, placement=run.placement_blocked is None, choose=choose
        )
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


def compute(
    policy: CompiledPolicy, facts: PodFacts, placement: bool, choose: bool = True
) -> Computed:
    """Each kind the policy uses, in order, against the pod as the kinds before it left it.
    `placement` False leaves out every placement kind, `choose` False those that choose
    nodes."""
    computed = Computed(Additions(), [], [], facts.pod, set())
    for addition in policy.additions:
        kind = addition.kind
        if (kind.placement and not placement) or (kind.chooses_nodes and not choose):
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
    if any(kind.chooses_nodes for kind, _ in computed.additions.by_kind):
        pool = policy.pools[0] if policy.pool_only and len(policy.pools) == 1 else -1
        run.placements.append(Placement(policy.name, run.facts.pod, computed.pod, pool))
    run.ops += computed.ops
    run.applied.append(policy.name)
    run.changed.append(computed.stale)
    run.before.append(run.facts.known(VALUE_FACTS & computed.stale))
    run.facts.advance(computed.pod, computed.stale)


def add_provenance(run: Run, key: str, refused_key: str) -> None:
    """Name the policies that changed the pod, and those whose node choices the final
    judgement took back, after those an earlier call named (the apiserver reinvokes
    webhooks: a policy refused on the first call stays refused on the second, so the second
    call adds nothing)."""
    if run.applied:
        run.provenance = add_listing(run, key, run.applied)
    refused = [name for name, breach in run.stripped.items() if breach.intent != EARLIER]
    if refused:
        add_listing(run, refused_key, refused)


def add_listing(run: Run, key: str, names: list[str]) -> list[str]:
    """The annotation `key` listing `names` after those it lists already. Not added when it
    would take the pod's annotations past the apiserver's total size limit."""
    pod = run.facts.pod
    listed = listed_in(pod, key)
    listing = listed + [n for n in names if n not in listed]
    value = ",".join(listing)
    if value == annotations_of(pod).get(key):
        return listing
    if exceeds_annotation_limit(pod, key, value):
        run.warnings.append(short(f"annotation {key} not added: the pod's annotations are full"))
        return listing
    try:
        ops, pod = patch.set_keys(pod, ("metadata", "annotations"), {key: value})
    except patch.PatchError as exc:
        run.warnings.append(short(f"annotation {key} not added: {exc}"))
        return listing
    run.ops += ops
    run.facts.advance(pod, ("annotations", "workload"))
    return listing


def listed_in(pod: Pod, key: str) -> list[str]:
    """The names an annotation of ours lists (comma-separated)."""
    return [n for n in str(annotations_of(pod).get(key) or "").split(",") if n]
