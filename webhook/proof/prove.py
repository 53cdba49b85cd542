"""Proving a policy set's placements against its NodePools, for pod classes derived from the
set's own clauses (`classes.py`).

Each class runs through the set as the policies add (no final judgement), and the pod as it
would be sent is judged as the webhook judges every pod (`webhook.engine.judge`): a policy
whose node choices break an intent of the set (runnable, resources, off spot) is named with
the class and the intent, on one line. A class the set keeps off spot, that nothing in the set
keeps off spot although an on-demand pool can run it, is a problem of the set too (named at
`keepOffSpot`); so is a chain of policies longer than one call's passes (`fixed_point.py`).
At admission the judgement takes such placements back from every pod; the proof says, before
the set is served, which policy would lose them and for which pods.

A key a policy requires of nodes that no pool states (nor a well-known node label) is taken as
possibly present, so it proves nothing: `check` warns of it (a misspelt key, or a per-node
label such as a rack).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webhook.engine import CompiledPolicySet, Result, compile_policy_set, judge, mutate
from webhook.errors import PolicyError, Problem
from webhook.match.facts import PodFacts
from webhook.mutations import affinity, topology_spread
from webhook.policy import PolicySet
from webhook.policy.load import SETTINGS
from webhook.proof.classes import PodClass, count_classes, derive, pod_classes
from webhook.proof.fixed_point import fixed_point_problems

# Labels every node has (kubelet and the cloud provider set them): keys a policy may require
# that no pool needs to state (https://kubernetes.io/docs/reference/labels-annotations-taints/).
WELL_KNOWN_NODE_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
    }
)
KEEP_OFF_SPOT = SETTINGS  # where an omission of the set is reported
OMISSION = "off-spot"


@dataclass
class Proof:
    pools: int
    classes: int = 0  # pod classes tried
    derived: int = 0  # pod classes derived (more than tried when limited)
    clauses: int = 0  # clauses they were derived from
    namespaces: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def proven(self) -> bool:
        return self.pools > 0 and not self.problems

    def summary(self) -> str:
        if not self.pools:
            return "placement not proven: the set declares no NodePool"
        if self.problems:
            return f"placement proof failed: {len(self.problems)} problems"
        tried = f"{self.classes} pod classes"
        if self.derived > self.classes:
            tried = f"{self.classes} of {self.derived} pod classes (check tries every one)"
        where = ", ".join(self.namespaces[:3]) + (
            f" and {len(self.namespaces) - 3} more" if len(self.namespaces) > 3 else ""
        )
        return (
            f"placement proven: {tried} from {self.clauses} clauses, in namespaces {where}, "
            f"keep the set's intents on its {self.pools} node pools"
        )


def prove_placement(compiled: CompiledPolicySet, limit: int | None = None) -> Proof:
    """The proof on every derived pod class, or on the first `limit` of them."""
    proof = Proof(pools=len(compiled.pools))
    if not compiled.pools:
        return proof
    proof.warnings += _unstated_keys(compiled)
    proof.problems += fixed_point_problems(compiled)
    derivation = derive(compiled)
    proof.clauses = derivation.clauses
    found: dict[tuple[str, str], list[str]] = {}  # (policy, intent) -> the classes' lines
    namespaces: dict[str, None] = {}
    for pod_class in pod_classes(compiled, derivation, limit):
        proof.classes += 1
        namespaces[pod_class.context.namespace] = None
        for policy, intent, message in _violations(compiled, pod_class):
            found.setdefault((policy, intent), []).append(message)
    proof.namespaces = tuple(namespaces)
    proof.derived = proof.classes if limit is None else count_classes(derivation, compiled)
    for (policy, _), messages in found.items():
        more = f" (and {len(messages) - 1} more pod classes)" if len(messages) > 1 else ""
        name = f"policy {policy}" if policy != KEEP_OFF_SPOT else "keepOffSpot"
        field_path = "spec.add" if policy != KEEP_OFF_SPOT else "spec.keepOffSpot"
        problem = compiled.source.problem(policy, field_path, f"{name}: {messages[0]}{more}")
        proof.problems.append(problem)
    return proof


def _violations(compiled: CompiledPolicySet, pod_class: PodClass) -> list[tuple[str, str, str]]:
    context = pod_class.context
    result = mutate(compiled, pod_class.pod, context.namespace, context.labels, guard=False)
    if result.applied and any("passes: stopped" in w for w in result.warnings):
        message = f"{pod_class.description}: its fixed point is not reached in one call"
        return [(result.applied[-1], "fixed point", message)]
    facts = _final_facts(compiled, pod_class, result)
    breach = judge(compiled, facts, result.placements)
    if breach is not None:
        message = f"{pod_class.description}: {breach.detail} [intent {breach.intent}]"
        return [(policy, breach.intent, message) for policy in breach.policies]
    omission = _left_on_spot(compiled, pod_class, facts) if _places(compiled) else ""
    return [(KEEP_OFF_SPOT, OMISSION, omission)] if omission else []


def _final_facts(compiled: CompiledPolicySet, pod_class: PodClass, result: Result) -> PodFacts:
    keys = compiled.settings.platform_label_keys
    context = pod_class.context
    return PodFacts(result.pod, context.namespace, context.labels, keys, compiled.nodes)


def _places(compiled: CompiledPolicySet) -> bool:
    """Whether the set sends pods to pools at all (tolerations, required node affinity, a
    pool): a set that only declares pools, spreads pods or states preferences leaves every
    pod where the scheduler would have put it, and has no placement to keep it off spot."""
    routing = ("tolerations", "nodeAffinity.required", "pool")
    return any(
        addition.kind.name in routing
        for policy in compiled.policies
        if policy.mode == "enforce"
        for addition in policy.additions
    )


def _left_on_spot(compiled: CompiledPolicySet, pod_class: PodClass, facts: PodFacts) -> str:
    """Why a pod of a class kept off spot can still land on spot although an on-demand pool
    can run it and nothing about it forbids placing it ("" when it cannot)."""
    reach = compiled.reachable(facts.pod, pod_class.extended)
    if not any(p.spot for p in reach) or not compiled.kept_off_spot(facts):
        return ""
    context = pod_class.context
    before = PodFacts(
        pod_class.pod, context.namespace, context.labels,
        compiled.settings.platform_label_keys, compiled.nodes,
    )  # fmt: skip
    if before.own_placement or before.bound or before.never_placed:
        return ""
    if compiled.placement_excluded(context.namespace):
        return ""
    baseline = mutate(compiled, pod_class.pod, context.namespace, context.labels, place=False)
    if before.queued or not any(
        not p.spot for p in compiled.reachable(baseline.pod, pod_class.extended)
    ):
        return ""
    spot = ", ".join(p.name for p in reach if p.spot)
    return (
        f"{pod_class.description}: the pod can land on spot ({spot}) and no policy keeps it off "
        "spot, although an on-demand pool can run it: place it on one, or leave it out of "
        f"keepOffSpot [intent {OMISSION}]"
    )


def _unstated_keys(compiled: CompiledPolicySet) -> list[Problem]:
    """Node label keys the set relies on that pools do not state, as warnings. A key no pool
    states (nor a well-known label every node has): required of nodes, it is taken as present
    everywhere, so it proves nothing; spread over (topologySpreadConstraints), a node without
    it is outside every domain, so with DoNotSchedule the pod never goes there
    (PodTopologySpread's Filter: "missing required label"). And pools of different capacity
    types that state no key in common with another value, so that a node of one may carry the
    labels of the other: the loader finds those (PolicySet.warnings)."""
    stated = {key for pool in compiled.pools for key in pool.node.labels} | WELL_KNOWN_NODE_LABELS
    problems = list(compiled.source.warnings)
    for policy in compiled.policies:
        uses: dict[str, str] = {}  # key -> what the policy does with it, first use first
        for addition in policy.additions:
            rule = addition.rule
            if isinstance(rule, affinity.Rule):
                for expr in rule.expressions:
                    uses.setdefault(expr["key"], "requires")
            elif addition.kind is topology_spread.KIND:
                for constraint in rule:
                    uses.setdefault(constraint["topologyKey"], constraint["whenUnsatisfiable"])
        for key, use in uses.items():
            if key in stated:
                continue
            if use == "requires":
                message = (
                    f"policy {policy.name}: requires node label {key}, which no NodePool "
                    "states: the proof takes it as present on every node"
                )
            else:
                effect = (
                    "pods it constrains never go to a node without it"
                    if use == "DoNotSchedule"
                    else "the spread cannot tell nodes without it apart"
                )
                message = (
                    f"policy {policy.name}: spreads pods over node label {key}, which no "
                    f"NodePool states and no node has by default: {effect}"
                )
            problems.append(compiled.source.problem(policy.name, "spec.add", message))
    return problems


def compile_proven(policy_set: PolicySet, limit: int | None = None) -> CompiledPolicySet:
    """The set compiled, or PolicyError when its placements are not proven against its pools
    on every pod class, or on the first `limit` (what policy tests and the server at start and
    reload use)."""
    compiled = compile_policy_set(policy_set)
    problems = prove_placement(compiled, limit).problems
    if problems:
        raise PolicyError.of(problems)
    return compiled
