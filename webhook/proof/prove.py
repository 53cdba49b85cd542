"""Proving a policy set's placements against its NodePools.

For each representative pod (`representatives.py`) the set runs twice, as the webhook would run
it and with no placement added (the baseline). Every pod the set places (a policy added
tolerations or node affinity) must then (a) fit at least one pool, if it fitted one in the
baseline: its labels meet a required term, every NoSchedule and NoExecute taint is tolerated,
and the pool offers each extended resource it requests; and (b) when it is of a class the set
keeps off spot (`PolicySettings.keepOffSpot`) and fitted an on-demand pool in the baseline, fit
one still. A pod that nothing in the cluster runs, or that only spot pools run (a GPU notebook
where every GPU node is spot), is not the set's doing.

The pods are proven in `default` (or the first namespace the set does not exclude from
placement) and in up to MAX_NAMESPACES - 1 namespaces that policies name. A key a policy
requires of nodes that no pool states (nor a well-known node label) is taken as possibly present,
so it proves nothing: `check` warns of it (a misspelt key, or a per-node label such as a rack).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from webhook.engine import CompiledPolicySet, Result, chooses_nodes, compile_policy_set, mutate
from webhook.engine.compile import Pool
from webhook.errors import PolicyError, Problem
from webhook.kube.scheduling import toleration_for, why_not
from webhook.match.clauses import compile_match, first_failure
from webhook.match.facts import PodFacts
from webhook.mutations import affinity, topology_spread
from webhook.policy import PolicySet
from webhook.proof.representatives import Representative, representatives

# Labels every node has (kubelet and the cloud provider set them): keys a policy may require
# that no pool needs to state (https://kubernetes.io/docs/reference/labels-annotations-taints/).
MAX_NAMESPACES = 8
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


@dataclass
class Proof:
    pools: int
    pods: int = 0
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
        return (
            f"placement proven: {self.pods} representative pods in namespaces "
            f"{', '.join(self.namespaces)} fit the set's {self.pools} node pools"
        )


def prove_placement(compiled: CompiledPolicySet) -> Proof:
    proof = Proof(pools=len(compiled.pools))
    if not compiled.pools:
        return proof
    proof.warnings += _unstated_keys(compiled)
    proof.namespaces = _namespaces(compiled)
    seen: set[tuple[str, str]] = set()  # one problem per policy and workload
    for namespace in proof.namespaces:
        for rep in representatives(*_resources_and_own_placements(compiled.pools)):
            proof.pods += 1
            for policy, message in _violations(compiled, rep, namespace):
                if (policy, rep.workload) not in seen:
                    seen.add((policy, rep.workload))
                    problem = compiled.source.problem(
                        policy, "spec.add", f"policy {policy}: {message}"
                    )
                    proof.problems.append(problem)
    return proof


def _violations(
    compiled: CompiledPolicySet, rep: Representative, namespace: str
) -> Iterable[tuple[str, str]]:
    result = mutate(compiled, rep.pod, namespace, guard=False)
    placer = _last_placer(result)
    if placer is None:
        return
    baseline = mutate(compiled, rep.pod, namespace, place=False).pod
    before = compiled.reachable(baseline, rep.extended)
    after = compiled.reachable(result.pod, rep.extended)
    if before and not after:
        why = _why_none(compiled.pools, result.pod, rep.extended)
        yield placer, f"{rep.description} fits no pool: {why}"
    elif (
        after
        and all(p.spot for p in after)
        and any(not p.spot for p in before)
        and _kept_off_spot(compiled, rep, namespace)
    ):
        names = ", ".join(p.name for p in after)
        yield placer, f"{rep.description} is kept off spot but fits only spot pools ({names})"


def _last_placer(result: Result) -> str | None:
    """The last policy that chose nodes for the pod (added tolerations or node affinity): the
    one a violation names."""
    placers = [
        o.name
        for o in result.outcomes
        if o.name in result.applied and any(chooses_nodes(k) for k, _ in o.additions.by_kind)
    ]
    return placers[-1] if placers else None


def _why_none(pools: tuple[Pool, ...], pod: Any, extended: tuple[str, ...]) -> str:
    """Why a pod fits no pool, grouped: `on-demand pools offer no nvidia.com/gpu`."""
    misfits = {p.name: why_not(pod, p.node, extended) for p in pools}
    reachable = [p for p in pools if getattr(misfits[p.name], "what", "") != "labels"]
    if not reachable:
        first = misfits[pools[0].name]
        return f"no pool has the labels it requires ({first.detail if first else ''})"
    details = {str(misfits[p.name]) for p in reachable}
    if len(details) > 1:
        return "; ".join(f"pool {p.name}: {misfits[p.name]}" for p in reachable)
    misfit = misfits[reachable[0].name]
    assert misfit is not None
    if misfit.what == "resources":
        return (
            f"{_named(reachable)} {'offers' if len(reachable) == 1 else 'offer'} no {misfit.detail}"
        )
    return f"{_named(reachable)}: {misfit}"


def _named(pools: list[Pool]) -> str:
    """`pool g1`, `on-demand pools`, or `pools a, b` when they mix capacity types."""
    if len(pools) == 1:
        return f"pool {pools[0].name}"
    capacity = {p.spot for p in pools}
    if len(capacity) == 1:
        return "spot pools" if capacity.pop() else "on-demand pools"
    return "pools " + ", ".join(p.name for p in pools)


def _kept_off_spot(compiled: CompiledPolicySet, rep: Representative, namespace: str) -> bool:
    facts = PodFacts(rep.pod, namespace)
    return any(
        first_failure(compile_match(spec), facts) is None
        for spec in compiled.settings.keep_off_spot
    )


def _resources_and_own_placements(
    pools: tuple[Pool, ...],
) -> tuple[list[str], dict[str, tuple[dict[str, str], list[Any]]]]:
    """The extended resources the pools offer, and for CPU ("") and each of them a placement a
    pod's author could choose: a pool that runs it, by its labels, its taints tolerated."""
    resources = sorted({r for p in pools for r in p.node.extended_resources})
    own: dict[str, tuple[dict[str, str], list[Any]]] = {}
    for resource in ["", *resources]:
        pool = next(
            (p for p in pools if not resource or resource in p.node.extended_resources), None
        )
        if pool is not None:
            tolerations = [toleration_for(t) for t in pool.node.taints]
            own[resource] = (dict(pool.node.labels), tolerations)
    return resources or ["nvidia.com/gpu"], own


def _namespaces(compiled: CompiledPolicySet) -> tuple[str, ...]:
    """A namespace placement is not excluded from, and namespaces policies name (a glob with
    its wildcards filled in), MAX_NAMESPACES at most."""
    excluded = compiled.placement_excluded
    first = next(n for n in ("default", "proof", "proof-1") if not excluded(n))
    named: set[str] = set()
    for policy in compiled.policies:
        for pattern in policy.match.namespaces:
            name = pattern.replace("*", "x").replace("?", "x")
            if "[" not in name and fnmatch.fnmatchcase(name, pattern) and not excluded(name):
                named.add(name)
    named.discard(first)
    return (first, *sorted(named)[: MAX_NAMESPACES - 1])


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


def compile_proven(policy_set: PolicySet) -> CompiledPolicySet:
    """The set compiled, or PolicyError when its placements are not proven against its pools
    (what `check`, policy tests and the server at start and reload all use)."""
    compiled = compile_policy_set(policy_set)
    problems = prove_placement(compiled).problems
    if problems:
        raise PolicyError.of(problems)
    return compiled
