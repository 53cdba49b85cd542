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
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webhook.kube.pod import Pod, node_selector, node_selector_terms, tolerations

BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
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
    terms: list[Any]  # the required nodeSelectorTerms as they are
    # The tolerations by key ("" for those with none, which tolerate any key): a taint is
    # checked against those that can tolerate it, not against every toleration of the pod.
    tolerations: Mapping[str, list[Mapping[str, Any]]]


def requirements(pod: Pod) -> Requirements:
    by_key: dict[str, list[Mapping[str, Any]]] = {}
    for toleration in tolerations(pod):
        by_key.setdefault(str(toleration.get("key") or ""), []).append(toleration)
    return Requirements(node_selector(pod), node_selector_terms(pod), by_key)


def unmet_requirement(pod: Pod | Requirements, labels: Mapping[str, str]) -> str | None:
    """None when the node's labels can satisfy the pod's nodeSelector and required affinity;
    else the first requirement they do not meet."""
    req = pod if isinstance(pod, Requirements) else requirements(pod)
    for key, value in req.selector.items():
        if key in labels and labels[key] != value:
            return f"nodeSelector {key}={value}"
    terms = req.terms
    if not terms:
        return None
    unmet = None
    for term in terms:
        failed = _unmet_in_term(term, labels)
        if failed is None:
            return None
        unmet = unmet or failed
    return unmet


def _unmet_in_term(term: Any, labels: Mapping[str, str]) -> str | None:
    if not isinstance(term, Mapping):
        return "a nodeSelectorTerm that is not an object"
    expressions = term.get("matchExpressions")
    for expr in expressions if isinstance(expressions, list) else []:
        if isinstance(expr, Mapping) and not expression_holds(expr, labels):
            values = expr.get("values") or []
            return f"{expr.get('key')} {expr.get('operator')} {list(values)}"
    return None


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
        try:
            label, bound = int(value), int(values[0])
        except (TypeError, ValueError, IndexError):
            return False
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
