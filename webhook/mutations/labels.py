"""`labels`: added when the pod lacks the key; the pod's own value always wins."""

from __future__ import annotations

from webhook.kube.pod import Pod
from webhook.match.facts import PodFacts
from webhook.mutations.kind import Conflict, Items, MutationKind, Patching, missing_entries
from webhook.policy.model import Mutations


def _compile(add: Mutations) -> dict[str, str] | None:
    return dict(add.labels) or None


def _missing(pod: Pod, rule: dict[str, str], facts: PodFacts) -> tuple[Items, list[Conflict]]:
    return missing_entries("label", facts.labels, rule)


KIND = MutationKind(
    name="labels",
    reads=("labels",),
    path=("metadata", "labels"),
    patching=Patching.KEYS,
    placement=False,
    stale=frozenset({"labels", "workload"}),  # workloads are recognised by their labels
    compile=_compile,
    missing=_missing,
    noun="label",
    keys=lambda items: list(items),
)
