"""Whether one call reaches the set's fixed point: what the apiserver's second call would add,
the first must have added.

The engine runs the policies in order, then again while another policy's additions may change
a verdict, MAX_PASSES times at most (`webhook.engine.run`). A policy B that an addition of a
policy A can make apply, with A after B in the order, needs one more pass; a chain of such
links longer than the passes allow is cut, and the apiserver's reinvocation would then add
more. So `check` refuses such a set, and a policy that reads the webhook's own annotations:
they are added after every policy, so it could apply only on the second call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from webhook.engine import CompiledPolicySet
from webhook.engine.compile import CompiledPolicy
from webhook.engine.run import MAX_PASSES
from webhook.errors import Problem
from webhook.match.clauses import keys_of
from webhook.policy.model import MatchSpec


def fixed_point_problems(compiled: CompiledPolicySet) -> list[Problem]:
    """A problem per policy reading the webhook's own annotations, and one for the longest
    chain of policies that needs more passes than run."""
    problems = _own_annotation_reads(compiled)
    chain = longest_chain(compiled.policies)
    if len(chain.backward) + 1 > MAX_PASSES:
        shown = " -> ".join(chain.policies)
        message = (
            f"policy {chain.policies[-1]}: the chain {shown} needs {len(chain.backward) + 1} "
            f"passes to reach its fixed point, and at most {MAX_PASSES} run (each link to a "
            "policy earlier in the order needs one more): change their order"
        )
        problems.append(compiled.source.problem(chain.policies[-1], "spec.order", message))
    return problems


def _own_annotation_reads(compiled: CompiledPolicySet) -> list[Problem]:
    settings = compiled.settings
    own = {settings.annotation_key, settings.refused_annotation_key}
    problems = []
    for policy in compiled.policies:
        for spec in (policy.match, *policy.policy.spec.exclude):
            selector = spec.annotation_selector
            if selector is None:
                continue
            keys = {*selector.match_labels, *(e.key for e in selector.match_expressions)}
            for key in sorted(keys & own):
                message = (
                    f"policy {policy.name}: reads the annotation {key}, which the webhook adds "
                    "after every policy: the policy would apply only when the apiserver calls "
                    "again, not in one call"
                )
                problems.append(compiled.source.problem(policy.name, "spec.match", message))
    return problems


def enabled_by(policy: CompiledPolicy) -> frozenset[str]:
    """The pod facts whose change by another policy's additions can make this one apply
    (additions only add: own placement can only appear, so `placement: none` is never
    enabled by it, while an exclude that asks for it can stop holding)."""
    spec = policy.policy.spec
    reads: set[str] = set(policy.depends)
    for clause in (spec.match, *spec.exclude):
        reads |= _selector_reads(clause)
        if clause.workloads:
            reads.add("workload")
        if clause.queued is not None:
            reads.add("queued")
    if spec.match.placement == "own" or any(e.placement == "none" for e in spec.exclude):
        reads.add("own_placement")
    return frozenset(reads)


def _selector_reads(spec: MatchSpec) -> set[str]:
    reads: set[str] = set()
    if spec.pod_selector is not None:
        reads |= keys_of("labels", spec.pod_selector)
    if spec.annotation_selector is not None:
        reads |= keys_of("annotations", spec.annotation_selector)
    return reads


def changes(policy: CompiledPolicy) -> frozenset[str]:
    """The pod facts its additions can change."""
    add = policy.policy.spec.add
    changed: set[str] = set()
    for addition in policy.additions:
        changed |= addition.kind.stale
    changed |= {f"labels/{key}" for key in add.labels}
    changed |= {f"annotations/{key}" for key in add.annotations}
    return frozenset(changed)


@dataclass(frozen=True)
class Chain:
    policies: tuple[str, ...]
    backward: tuple[tuple[str, str], ...]  # links to a policy earlier in the order


def longest_chain(policies: tuple[CompiledPolicy, ...]) -> Chain:
    """The chain of enabling links with the most links backward in the order. Policies that
    enable each other in a cycle are one group, which can cost one pass per backward link
    inside it (a bound: each policy applies once)."""
    readers: dict[str, list[int]] = {}
    for index, policy in enumerate(policies):
        for fact in enabled_by(policy):
            readers.setdefault(fact, []).append(index)
    edges: list[set[int]] = [set() for _ in policies]
    for index, policy in enumerate(policies):
        for fact in changes(policy):
            edges[index].update(readers.get(fact, ()))
    groups = strongly_connected(edges)
    return _heaviest_path(policies, edges, groups)


def _heaviest_path(
    policies: tuple[CompiledPolicy, ...], edges: list[set[int]], groups: list[list[int]]
) -> Chain:
    group_of = {member: g for g, members in enumerate(groups) for member in members}
    inner = [
        sorted((a, b) for a in members for b in edges[a] if group_of[b] == g and b < a)
        for g, members in enumerate(groups)
    ]
    # A simple path through a group of n policies has n - 1 links at most.
    weight = [min(len(links), len(groups[g]) - 1) for g, links in enumerate(inner)]
    best: dict[int, tuple[int, list[int], list[tuple[int, int]]]] = {}
    # `strongly_connected` lists groups with every edge leading to an earlier group.
    for g, members in enumerate(groups):
        own_links = inner[g][: weight[g]]
        top = (weight[g], [g], own_links)
        for a in members:
            for b in edges[a]:
                h = group_of[b]
                if h == g:
                    continue
                cost, path, links = best[h]
                link = [(a, b)] if b < a else []
                total = cost + weight[g] + len(link)
                if total > top[0]:
                    top = (total, [g, *path], own_links + link + links)
        best[g] = top
    if not best:
        return Chain((), ())
    _, path, links = max(best.values(), key=lambda item: item[0])
    names = tuple(policies[groups[g][0]].name for g in path)
    backward = tuple((policies[a].name, policies[b].name) for a, b in links)
    return Chain(names, backward)


def strongly_connected(edges: list[set[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components, without recursion, in reverse topological
    order (a component's edges lead to components listed before it)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    groups: list[list[int]] = []
    counter = 0
    for root in range(len(edges)):
        if root in index:
            continue
        work: list[tuple[int, Iterable[int]]] = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
    return groups
