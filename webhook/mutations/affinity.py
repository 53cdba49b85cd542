"""`nodeAffinity.required` (and `mirrorNodeSelector`): required node affinity, ANDed into every
nodeSelectorTerm the pod has.

Terms are ORed, so an expression added to only one of them would let the pod escape through
another; with no terms, the expressions become one new term. An expression on a key the pod
already constrains (in a term or its nodeSelector) with another meaning is not added: the pod's
own choice wins, and the skip is reported. The per-term decisions are made here; the patch
only appends what each term is given.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook.kube.pod import (
    NODE_AFFINITY,
    Pod,
    node_selector,
    node_selector_terms,
    required_node_terms,
)
from webhook.kube.scheduling import expression_holds
from webhook.match.facts import PodFacts
from webhook.mutations.kind import Conflict, Context, Items, MutationKind, Patching
from webhook.policy.model import Mutations

Expression = dict[str, Any]
Canonical = tuple[Any, Any, tuple[str, ...]]
WHAT = "required node affinity"


def canonical(expr: Mapping[str, Any]) -> Canonical:
    """What makes two expressions equal: key, operator and the set of values."""
    values = expr.get("values")
    shown = tuple(sorted(map(str, values))) if isinstance(values, list | tuple) else ()
    return expr.get("key"), expr.get("operator"), shown


def _expressions(term: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = term.get("matchExpressions")
    return [e for e in found if isinstance(e, Mapping)] if isinstance(found, list) else []


def _on_keys(term: Mapping[str, Any], keys: Collection[str]) -> dict[Canonical, Mapping[str, Any]]:
    """The term's expressions on `keys`, by what makes them equal: only those can equal or
    contradict an expression on one of the keys (and a term can hold thousands)."""
    return {
        canonical(e): e
        for e in _expressions(term)
        if isinstance(key := e.get("key"), str) and key in keys
    }


def accepts(expr: Mapping[str, Any], value: Any) -> bool:
    """Whether a node labelled key=value (from the pod's nodeSelector) satisfies `expr`."""
    key = expr.get("key")
    return isinstance(key, str) and expression_holds(expr, {key: value})


@dataclass(frozen=True)
class Rule:
    expressions: tuple[Expression, ...]
    mirror: bool


def _compile(add: Mutations, context: Context) -> Rule | None:
    required = add.node_affinity.required if add.node_affinity is not None else ()
    if not required and not add.mirror_node_selector:
        return None
    return rule_of([e.as_k8s() for e in required], add.mirror_node_selector)


def rule_of(expressions: Iterable[Expression], mirror: bool = False) -> Rule:
    """A rule with each distinct expression once."""
    distinct = {canonical(e): e for e in expressions}
    return Rule(tuple(distinct.values()), mirror)


def mirrored_node_selector(pod: Pod) -> list[Expression]:
    """The pod's nodeSelector as required expressions: cluster-autoscaler setups that pick the
    node group from required nodeAffinity then see it (the nodeSelector itself stays)."""
    return [
        {"key": k, "operator": "In", "values": [v]}
        for k, v in node_selector(pod).items()
        if isinstance(v, str)
    ]


def accepted_expressions(
    pod: Pod, wanted: Iterable[Expression]
) -> tuple[list[Expression], list[Conflict]]:
    """The wanted expressions that some term lacks and that nothing the pod says contradicts."""
    wanted = list(wanted)
    keys = {e["key"] for e in wanted}
    terms = [_on_keys(t, keys) for t in required_node_terms(pod)]
    selector = node_selector(pod)
    added: dict[Canonical, Expression] = {}
    conflicts: list[Conflict] = []
    for expr in wanted:
        key, same = expr["key"], canonical(expr)
        if same in added or (terms and all(same in term for term in terms)):
            continue
        clash = next((e for t in terms for c, e in t.items() if c[0] == key and c != same), None)
        if clash is not None:
            conflicts.append(Conflict(WHAT, key, expr, dict(clash)))
        elif key in selector and not accepts(expr, selector[key]):
            conflicts.append(Conflict(WHAT, key, expr, {"nodeSelector": {key: selector[key]}}))
        else:
            added[same] = expr
    return list(added.values()), conflicts


class NotATerm(ValueError):
    """A nodeSelectorTerms entry that is not an object: nothing can be ANDed into it."""


def term_plan(pod: Pod, exprs: Sequence[Expression]) -> list[tuple[tuple[Any, ...], list[Any]]]:
    """Which term gets which expressions: each existing term the ones it lacks; with no term,
    one new term with them all. Indexes are those of the pod's own list."""
    terms = node_selector_terms(pod)
    if not terms:
        return [((), [{"matchExpressions": list(exprs)}])] if exprs else []
    plan: list[tuple[tuple[Any, ...], list[Any]]] = []
    keys = {e["key"] for e in exprs}
    for index, term in enumerate(terms):
        if not isinstance(term, Mapping):
            raise NotATerm(f"nodeSelectorTerms[{index}] is not an object")
        present = _on_keys(term, keys)
        lacking = [e for e in exprs if canonical(e) not in present]
        if lacking:
            plan.append(((index, "matchExpressions"), lacking))
    return plan


def required_plan(pod: Pod, rule: Rule) -> tuple[Items, list[Conflict]]:
    """The per-term plan for the rule's expressions (and the mirrored nodeSelector)."""
    if not rule.mirror and not node_selector_terms(pod) and not node_selector(pod):
        # Nothing to AND into and nothing to contradict: the rule's expressions, as one term
        # (they are distinct: compiled so).
        return [((), [{"matchExpressions": list(rule.expressions)}])], []
    wanted = [*mirrored_node_selector(pod), *rule.expressions] if rule.mirror else rule.expressions
    exprs, conflicts = accepted_expressions(pod, wanted)
    return term_plan(pod, exprs), conflicts


def _missing(pod: Pod, rule: Rule, facts: PodFacts) -> tuple[Items, list[Conflict]]:
    return required_plan(pod, rule)


def shown_expressions(plan: Items) -> Items:
    """The expressions added, each once, as the policy wrote them."""
    seen: dict[Canonical, Any] = {}
    assert isinstance(plan, list)  # term_plan's
    for sub_path, values in plan:
        exprs = values[0]["matchExpressions"] if not sub_path else values
        for expr in exprs:
            seen.setdefault(canonical(expr), expr)
    return list(seen.values())


KIND = MutationKind(
    name="nodeAffinity.required",
    reads=("node_affinity.required", "mirror_node_selector"),
    path=(*NODE_AFFINITY, "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"),
    patching=Patching.EACH_TERM,
    placement=True,
    chooses_nodes=True,
    stale=frozenset({"own_placement"}),
    compile=_compile,
    missing=_missing,
    noun=WHAT,
    keys=lambda plan: [str(e["key"]) for e in shown_expressions(plan) if isinstance(e, dict)],
    shown=shown_expressions,
)
