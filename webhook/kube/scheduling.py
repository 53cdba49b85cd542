"""Could a node with these labels, taints and extended resources run this pod? The scheduler's
filters that a pod's spec decides, read from the raw pod:

- NodeAffinity (`pkg/scheduler/framework/plugins/nodeaffinity`, with
  `component-helpers/scheduling/corev1/nodeaffinity`): every nodeSelector entry, and at least
  one required nodeSelectorTerm whose expressions all hold;
- TaintToleration (`v1helper.TolerationsTolerateTaint`): every NoSchedule and NoExecute taint
  tolerated (`Toleration.ToleratesTaint`: an empty key with Exists tolerates every taint, an
  empty effect every effect, Exists any value);
- NodeResourcesFit: the node offers each extended resource the pod requests.

A pool states only the labels *every* node of it carries; nodes carry more (hostname, zone,
instance type). An expression on a key the pool does not state is therefore taken as possibly
true, never as a reason the pod cannot run (`matchFields`, which names one node, likewise).
What can never match does not: an empty term, a required affinity with no terms, an operator
the scheduler does not know or values it cannot parse (`nodeaffinity.go` in
component-helpers: a term whose requirements fail to parse matches no node).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webhook.kube.pod import Pod, node_affinity, node_selector, node_selector_terms, tolerations

BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
MISSING_SHOWN = 5  # extended resources named in a Misfit; the rest are counted


@dataclass(frozen=True)
class Node:
    """What every node of a pool has."""

    labels: Mapping[str, str]
    taints: Sequence[tuple[str, str, str]]  # (key, value, effect)
    extended_resources: Collection[str]


@dataclass(frozen=True)
class Requirements:
    """What of a pod decides which nodes can run it, read once to be checked against many."""

    selector: Mapping[str, Any]
    # The required nodeSelectorTerms, each as (why it matches no node, or None; its
    # matchExpressions): a term is read once, whatever the number of nodes it is checked on.
    terms: list[tuple[str | None, list[Mapping[str, Any]]]]
    required: bool  # a required node affinity is there (with no terms it matches no node)
    # The tolerations by key ("" for those with none, which tolerate any key): a taint is
    # checked against those that can tolerate it, not against every toleration of the pod.
    tolerations: Mapping[str, list[Mapping[str, Any]]]


def requirements(pod: Pod) -> Requirements:
    by_key: dict[str, list[Mapping[str, Any]]] = {}
    for toleration in tolerations(pod):
        by_key.setdefault(str(toleration.get("key") or ""), []).append(toleration)
    required = node_affinity(pod).get(REQUIRED) is not None
    terms = [_term(t) for t in node_selector_terms(pod)]
    return Requirements(node_selector(pod), terms, required, by_key)


def unmet_requirement(pod: Pod | Requirements, labels: Mapping[str, str]) -> str | None:
    """None when the node's labels can satisfy the pod's nodeSelector and required affinity;
    else the first requirement they do not meet."""
    req = pod if isinstance(pod, Requirements) else requirements(pod)
    for key, value in req.selector.items():
        if key in labels and labels[key] != value:
            return f"nodeSelector {key}={value}"
    terms = req.terms
    if not terms:
        # NodeSelector.Match with no terms is false (component-helpers nodeaffinity.go).
        return "a required node affinity with no nodeSelectorTerms" if req.required else None
    unmet = None
    for problem, expressions in terms:
        failed = problem or _unmet_expression(expressions, labels)
        if failed is None:
            return None
        unmet = unmet or failed
    return unmet


def _unmet_expression(
    expressions: list[Mapping[str, Any]], labels: Mapping[str, str]
) -> str | None:
    for expr in expressions:
        if not expression_holds(expr, labels):
            return _shown(expr)
    return None


def _term(term: Any) -> tuple[str | None, list[Mapping[str, Any]]]:
    """(why the term matches no node, or None; its expressions). As newNodeSelectorTerm and
    nodeSelectorRequirementsAsSelector (component-helpers nodeaffinity.go): an empty term
    selects nothing, and a requirement that does not parse makes the term match nothing."""
    if not isinstance(term, Mapping):
        return "a nodeSelectorTerm that is not an object", []
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not isinstance(expressions, list) or not isinstance(fields, list):
        return "a nodeSelectorTerm that is not a list of requirements", []
    if not expressions and not fields:
        return "an empty nodeSelectorTerm, which matches no node", []
    for expr in expressions:
        if not isinstance(expr, Mapping) or not parses(expr):
            return f"a requirement the scheduler cannot parse: {_shown(expr)}", []
    for expr in fields:
        # Only metadata.name is a node field (nodeaffinity.go nodeFieldSelectorKeys): it names
        # single nodes, which a pool does not state.
        if not isinstance(expr, Mapping) or expr.get("key") != "metadata.name" or not parses(expr):
            return f"a field requirement the scheduler cannot parse: {_shown(expr)}", []
    return None, expressions


def _shown(expr: Any) -> str:
    if not isinstance(expr, Mapping):
        return repr(expr)
    values = expr.get("values") or []
    shown = list(values) if isinstance(values, list) else values
    return f"{expr.get('key')} {expr.get('operator')} {shown}"


OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})


def parses(expr: Mapping[str, Any]) -> bool:
    """Whether the scheduler can turn a requirement into a selector (labels.NewRequirement,
    apimachinery/pkg/labels/selector.go): a known operator, values for In and NotIn, none for
    Exists and DoesNotExist, and one integer for Gt and Lt."""
    op, values = expr.get("operator"), expr.get("values")
    if op not in OPERATORS or not isinstance(expr.get("key"), str):
        return False
    values = values if values is not None else []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return False
    if op in ("In", "NotIn"):
        return bool(values)
    if op in ("Exists", "DoesNotExist"):
        return not values
    return len(values) == 1 and is_int64(values[0])


# strconv.ParseInt(value, 10, 64) on a value that must also be a label value
# (labels.NewRequirement validates every value): no sign, so digits only.
INT64 = re.compile(r"[0-9]+")


def is_int64(text: str) -> bool:
    return INT64.fullmatch(text) is not None and int(text) < 2**63


def expression_holds(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """`NodeSelectorRequirement` on node labels; an unstated key may hold (see above)."""
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if not isinstance(key, str) or key not in labels:
        return True  # the key may be on the node: only a stated label can say no
    value = labels[key]
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return True
    if op == "DoesNotExist":
        return False
    if op in ("Gt", "Lt"):
        if len(values) != 1 or not is_int64(value) or not is_int64(values[0]):
            return False
        label, bound = int(value), int(values[0])
        return label > bound if op == "Gt" else label < bound
    return False


def tolerates(toleration: Mapping[str, Any], taint: tuple[str, str, str]) -> bool:
    """`Toleration.ToleratesTaint` (staging/src/k8s.io/api/core/v1/toleration.go)."""
    key, value, effect = taint
    wanted_effect = toleration.get("effect") or ""
    if wanted_effect and wanted_effect != effect:
        return False
    wanted_key = toleration.get("key") or ""
    if wanted_key and wanted_key != key:
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == value


def toleration_for(taint: tuple[str, str, str]) -> dict[str, str]:
    """The toleration of exactly this taint (Exists when it has no value)."""
    key, value, effect = taint
    if not value:
        return {"key": key, "operator": "Exists", "effect": effect}
    return {"key": key, "operator": "Equal", "value": value, "effect": effect}


def untolerated_taint(
    pod: Pod | Requirements, taints: Sequence[tuple[str, str, str]]
) -> str | None:
    """The first NoSchedule or NoExecute taint no toleration of the pod tolerates."""
    by_key = (pod if isinstance(pod, Requirements) else requirements(pod)).tolerations
    for taint in taints:
        key, value, effect = taint
        if effect not in BLOCKING_EFFECTS:
            continue
        if not any(tolerates(t, taint) for t in (*by_key.get(key, ()), *by_key.get("", ()))):
            return f"{key}={value}:{effect}"
    return None


@dataclass(frozen=True)
class Misfit:
    """Why a node cannot run a pod: `what` failed (labels, taint or resources), and `detail`."""

    what: Literal["labels", "taint", "resources"]
    detail: str

    def __str__(self) -> str:
        if self.what == "labels":
            return f"its labels do not meet {self.detail}"
        if self.what == "taint":
            return f"its taint {self.detail} is not tolerated"
        return f"it offers no {self.detail}"


def why_not(pod: Pod | Requirements, node: Node, extended: Collection[str]) -> Misfit | None:
    """None when a node like `node` can run the pod (which requests `extended`), else why not.
    Give the pod's Requirements when checking it against many nodes."""
    req = pod if isinstance(pod, Requirements) else requirements(pod)
    unmet = unmet_requirement(req, node.labels)
    if unmet is not None:
        return Misfit("labels", unmet)
    taint = untolerated_taint(req, node.taints)
    if taint is not None:
        return Misfit("taint", taint)
    missing = [r for r in extended if r not in node.extended_resources]
    if missing:
        shown = heapq.nsmallest(MISSING_SHOWN, missing)  # not a sort of all the pod asks for
        more = f" and {len(missing) - len(shown)} more" if len(missing) > len(shown) else ""
        return Misfit("resources", ", ".join(shown) + more)
    return None
