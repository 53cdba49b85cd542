"""Whether a pod's author chose where it runs, in terms of the declared node pools.

A choice is what the scheduler would act on: a required one (a nodeName, a nodeSelector or a
required node affinity naming more than the node's platform), or tolerations and preferences
that select a declared pool. Tolerations and preferences that select no declared pool are no
choice: Zero to JupyterHub gives every user pod tolerations of `hub.jupyter.org/dedicated=user`
and a preference for `hub.jupyter.org/node-purpose=user` by default (`jupyterhub/values.yaml`,
`scheduling.userPods`), whether or not the cluster has such nodes; where none has them, the pod
can land anywhere, spot included. The pod's own fields are kept untouched either way.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from webhook.kube.pod import (
    Pod,
    own_tolerations,
    preferred_node_terms,
    required_choice,
)
from webhook.kube.scheduling import Node, expression_holds, parses, tolerates


def chooses_a_pool(
    pod: Pod, extended: Collection[str], platform_keys: Collection[str], pools: Sequence[Node]
) -> bool:
    """Whether the pod's own fields choose where it runs among `pools` (see the module)."""
    if required_choice(pod, platform_keys):
        return True
    tolerations = own_tolerations(pod, extended)
    if tolerations and any(_tolerates_all(tolerations, pool) for pool in pools):
        return True
    return any(
        _selects(term.get("preference"), pool, platform_keys)
        for term in preferred_node_terms(pod)
        for pool in pools
    )


def _tolerates_all(tolerations: list[Mapping[str, Any]], pool: Node) -> bool:
    """A tainted pool whose every taint the tolerations tolerate: they open it to the pod."""
    return bool(pool.taints) and all(
        any(tolerates(t, taint) for t in tolerations) for taint in pool.taints
    )


def _selects(term: Any, pool: Node, platform_keys: Collection[str]) -> bool:
    """A preferred term that holds on the pool's nodes and names at least one label the pool
    states (beyond the platform's): a preference for a label no pool states selects none."""
    if not isinstance(term, Mapping):
        return False
    expressions = term.get("matchExpressions")
    if not isinstance(expressions, list) or not expressions:
        return False
    labels = pool.labels
    stated = False
    for expr in expressions:
        if not isinstance(expr, Mapping) or not parses(expr):
            return False
        if not expression_holds(expr, labels):
            return False
        key = expr["key"]
        stated = stated or (key in labels and key not in platform_keys)
    return stated
