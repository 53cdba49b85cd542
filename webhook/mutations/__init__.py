"""What a policy can add to a pod: one module per kind (see `kind.py` for the contract).

Kinds are found by looking at the modules of this package; they run in the order `ORDER`
states. A new kind is its module, its field in the policy model and its place in `ORDER`,
nothing else. Importing this package fails when the kinds break the contract: a field of the
model's `add` section no kind reads (it would be ignored silently), a kind missing from
`ORDER`, a kind adding to a field an in-tree admission plugin owns, or a kind adding to a
field that chooses nodes without declaring that it does (the final judgement would not see it).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from webhook.mutations.kind import NODE_CHOOSING, PLUGIN_OWNED, MutationKind
from webhook.policy.model import Mutations

# The order kinds run in within one policy: each sees what the ones before it added to the same
# list. Tolerations before node affinity, so a policy's own tolerations are there when `pool`
# decides which of its pool's taints still need one; metadata last, since nothing reads it to
# place the pod.
ORDER = (
    "extendedResourceTolerations",
    "tolerations",
    "nodeAffinity.required",
    "nodeAffinity.preferred",
    "pool",
    "workflowPodAffinity",
    "topologySpreadConstraints",
    "dnsConfig.options",
    "annotations",
    "labels",
)


class ContractError(RuntimeError):
    """The mutation kinds break the contract of `kind.py`."""


def _discover() -> tuple[MutationKind[Any], ...]:
    kinds: dict[str, MutationKind[Any]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if isinstance(kind, MutationKind):
            kinds[kind.name] = kind
    problems = contract_problems(list(kinds.values()))
    if problems:
        raise ContractError("; ".join(problems))
    return tuple(kinds[name] for name in ORDER)


def contract_problems(kinds: list[MutationKind[Any]]) -> list[str]:
    """What in `kinds` breaks the contract (see the module)."""
    problems = []
    read = {r.split(".")[0] for kind in kinds for r in kind.reads}
    unread = [name for name in Mutations.model_fields if name not in read]
    if unread:
        problems.append(f"policy fields no mutation kind applies: {', '.join(unread)}")
    names = {kind.name for kind in kinds}
    if names != set(ORDER):
        problems.append(f"kinds and ORDER differ: {sorted(names ^ set(ORDER))}")
    for kind in kinds:
        for part in kind.parts or (kind,):
            problems += _path_problems(kind.name, part)
    return problems


def _path_problems(name: str, kind: MutationKind[Any]) -> list[str]:
    problems = [
        f"kind {name} adds to {'.'.join(path)}, which the in-tree {plugin} plugin owns"
        for path, plugin in PLUGIN_OWNED
        if kind.path[: len(path)] == path
    ]
    choosing = any(kind.path[: len(path)] == path for path in NODE_CHOOSING)
    if choosing and not kind.chooses_nodes and not kind.in_tree:
        problems.append(f"kind {name} adds to {'.'.join(kind.path)} but does not choose nodes")
    return problems


KINDS: tuple[MutationKind[Any], ...] = _discover()

__all__ = ["KINDS", "ORDER", "ContractError", "MutationKind", "contract_problems"]
