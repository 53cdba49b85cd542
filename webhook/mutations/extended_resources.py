"""`extendedResourceTolerations`: the upstream ExtendedResourceToleration admission plugin.

`plugin/pkg/admission/extendedresourcetoleration/admission.go` with
`helper.IsExtendedResourceName` and `helper.AddOrUpdateTolerationInPod`: one
`{key: R, operator: Exists, effect: NoSchedule}` per distinct extended resource R requested by a
container or init container, in ascending byte order, appended unless an equal toleration
(key, operator, value, effect) is already there. The quantity is ignored, as upstream. It is not
placement: a DaemonSet's GPU pod needs it as much as any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webhook.kube.pod import Pod
from webhook.match.facts import PodFacts
from webhook.mutations.kind import Conflict, Context, Items, MutationKind, Patching
from webhook.mutations.tolerations import missing_tolerations
from webhook.policy.model import Mutations


@dataclass(frozen=True)
class Rule:
    resources: frozenset[str]  # empty: every extended resource
    effects: tuple[str, ...]


def _compile(add: Mutations, context: Context) -> Rule | None:
    rule = add.extended_resource_tolerations
    if rule is None:
        return None
    return Rule(frozenset(rule.resources), ("NoSchedule", *rule.extra_effects))


def tolerations_for(names: list[str], rule: Rule) -> list[dict[str, Any]]:
    """The rule's tolerations for extended resource names in upstream (byte) order."""
    if rule.resources:
        names = [n for n in names if n in rule.resources]
    return [{"key": n, "operator": "Exists", "effect": e} for n in names for e in rule.effects]


def _missing(pod: Pod, rule: Rule, facts: PodFacts) -> tuple[Items, list[Conflict]]:
    if not facts.extended:
        return [], []
    names = sorted(facts.extended, key=str.encode)
    return missing_tolerations(pod, tolerations_for(names, rule)), []


KIND = MutationKind(
    name="extendedResourceTolerations",
    part="tolerations",
    reads=("extended_resource_tolerations",),
    path=("spec", "tolerations"),
    patching=Patching.APPEND,
    placement=False,
    chooses_nodes=False,
    in_tree="ExtendedResourceToleration",
    # Tolerations keyed on a resource the pod requests are not its own placement
    # (webhook.kube.pod.has_own_placement): no fact changes.
    stale=frozenset(),
    compile=_compile,
    missing=_missing,
)
