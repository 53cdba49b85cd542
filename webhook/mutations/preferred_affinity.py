"""`nodeAffinity.preferred`: weighted preferred node terms, appended unless an equal one is there
(preferred terms add up their weights, so a term on a key the pod also prefers is no conflict)."""

from __future__ import annotations

from typing import Any

from webhook.kube.pod import NODE_AFFINITY, Pod, preferred_node_terms
from webhook.match.facts import PodFacts
from webhook.mutations.kind import Conflict, Context, Items, MutationKind, Patching
from webhook.policy.model import Mutations

Term = dict[str, Any]


def _compile(add: Mutations, context: Context) -> tuple[Term, ...] | None:
    if add.node_affinity is None or not add.node_affinity.preferred:
        return None
    return tuple(t.as_k8s() for t in add.node_affinity.preferred)


def missing_preferred(pod: Pod, rule: tuple[Term, ...]) -> list[Term]:
    present = list(preferred_node_terms(pod))
    added: list[Term] = []
    for term in rule:
        if term not in present:
            present.append(term)
            added.append(term)
    return added


def _missing(pod: Pod, rule: tuple[Term, ...], facts: PodFacts) -> tuple[Items, list[Conflict]]:
    return missing_preferred(pod, rule), []


KIND = MutationKind(
    name="nodeAffinity.preferred",
    reads=("node_affinity.preferred",),
    path=(*NODE_AFFINITY, "preferredDuringSchedulingIgnoredDuringExecution"),
    patching=Patching.APPEND,
    placement=True,
    chooses_nodes=True,
    stale=frozenset({"own_placement"}),
    compile=_compile,
    missing=_missing,
)
