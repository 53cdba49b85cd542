"""A pod's placement in one short line: `ng-name=job; ng-name In [job]; tol job:NoSchedule`.

nodeSelector pairs, then required node affinity (terms joined by ` | `: any one may hold),
then tolerations. Tolerations of the node-condition taints (`node.kubernetes.io/*`: those
kube-apiserver's DefaultTolerationSeconds adds to every pod, those the DaemonSet controller adds
to its pods) say nothing about which pool a pod runs on and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.kube.pod import Pod, node_selector, required_node_terms, tolerations

_NODE_CONDITION_PREFIX = "node.kubernetes.io/"


def _requirement(req: Mapping[str, Any], field: bool = False) -> str:
    key = f"field:{req.get('key')}" if field else str(req.get("key"))
    values = req.get("values")
    shown = f" [{','.join(map(str, values))}]" if isinstance(values, list) and values else ""
    return f"{key} {req.get('operator')}{shown}"


def _term(term: Mapping[str, Any]) -> str:
    parts = [_requirement(r) for r in term.get("matchExpressions") or [] if isinstance(r, Mapping)]
    parts += [
        _requirement(r, field=True) for r in term.get("matchFields") or [] if isinstance(r, Mapping)
    ]
    return ", ".join(parts)


def _toleration(tol: Mapping[str, Any]) -> str:
    key = tol.get("key") or "*"
    value = f"={tol['value']}" if tol.get("value") else ""
    effect = f":{tol['effect']}" if tol.get("effect") else ""
    return f"tol {key}{value}{effect}"


def render_placement(pod: Pod) -> str:
    parts = [f"{k}={v}" for k, v in sorted(node_selector(pod).items())]
    terms = [_term(t) for t in required_node_terms(pod)]
    if terms:
        parts.append(" | ".join(terms))
    parts += [
        _toleration(t)
        for t in tolerations(pod)
        if not str(t.get("key") or "").startswith(_NODE_CONDITION_PREFIX)
    ]
    return "; ".join(parts) or "-"
