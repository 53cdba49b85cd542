"""`annotations`: added when the pod lacks the key; the pod's own value always wins."""

from __future__ import annotations

from webhook.kube.pod import Pod
from webhook.match.facts import PodFacts
from webhook.mutations.kind import Conflict, Items, MutationKind, Patching, missing_entries
from webhook.policy.model import Mutations


def _compile(add: Mutations) -> dict[str, str] | None:
    return dict(add.annotations) or None


def _missing(pod: Pod, rule: dict[str, str], facts: PodFacts) -> tuple[Items, list[Conflict]]:
    return missing_entries("annotation", facts.annotations, rule)


KIND = MutationKind(
    name="annotations",
    reads=("annotations",),
    path=("metadata", "annotations"),
    patching=Patching.KEYS,
    placement=False,
    stale=frozenset({"annotations", "workload"}),  # kubernetes.io/config.mirror: a mirror pod
    compile=_compile,
    missing=_missing,
    noun="annotation",
    keys=lambda items: list(items),
)
