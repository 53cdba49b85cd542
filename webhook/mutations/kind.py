"""What a mutation kind is: everything the engine, the patch builder, provenance and explain need
to know about one thing a policy can add to a pod, declared in the kind's own module.

A kind's rule is compiled from the policy once, at load (`compile`); on each review `missing`
returns what the pod still lacks (`items`) and the values it kept over the policy's
(`conflicts`). Nothing outside the kind's module knows what its items look like.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from webhook.kube.pod import Pod
from webhook.kube.validation import FieldError
from webhook.match.facts import PodFacts
from webhook.policy.model import Mutations
from webhook.policy.pools import NodePool

Items = list[Any] | dict[str, Any]
R = TypeVar("R")


class Patching(enum.Enum):
    """How a kind's items reach the pod (JSON Patch `add` operations, built by the engine)."""

    APPEND = "appended to the list at `path`"
    KEYS = "added as keys of the map at `path`"
    # Items are (sub-path under `path`, list) pairs: each list is appended where its sub-path
    # points (one existing term), or, with an empty sub-path, to `path` itself (a new term).
    EACH_TERM = "appended into each existing term of the list at `path`"
    # Items are (kind, items) pairs: a kind made of others, each patched as its own (`path`
    # is unused).
    COMPOSED = "as the kinds it is made of"


# Pod fields kube-apiserver's in-tree mutating admission plugins own: no kind may add them. The
# plugins run again when a webhook's change makes the apiserver reinvoke the chain, and some
# refuse a pod whose field changed in between (Priority: "the integer value of priority must
# not be provided"/changed, plugin/pkg/admission/priority/admission.go; RuntimeClass sets
# `overhead` and refuses one it did not set, plugin/pkg/admission/runtimeclass/admission.go).
PLUGIN_OWNED: tuple[tuple[tuple[str, ...], str], ...] = (
    (("spec", "priority"), "Priority"),
    (("spec", "priorityClassName"), "Priority"),
    (("spec", "preemptionPolicy"), "Priority"),
    (("spec", "overhead"), "RuntimeClass"),
    (("spec", "runtimeClassName"), "RuntimeClass"),
    (("spec", "serviceAccountName"), "ServiceAccount"),
    (("spec", "serviceAccount"), "ServiceAccount"),
    (("spec", "automountServiceAccountToken"), "ServiceAccount"),
    (("spec", "volumes"), "ServiceAccount"),
    (("spec", "containers"), "LimitRanger, AlwaysPullImages"),
    (("spec", "initContainers"), "LimitRanger, AlwaysPullImages"),
    (("spec", "nodeSelector"), "PodNodeSelector, RuntimeClass"),
)
# Pod fields that choose nodes: a kind adding to one declares `chooses_nodes`, or names the
# in-tree plugin whose rule it reproduces (`in_tree`).
NODE_CHOOSING: tuple[tuple[str, ...], ...] = (
    ("spec", "nodeName"),
    ("spec", "nodeSelector"),
    ("spec", "tolerations"),
    ("spec", "affinity", "nodeAffinity"),
    ("spec", "topologySpreadConstraints"),
    ("spec", "runtimeClassName"),
)


@dataclass(frozen=True)
class Context:
    """What the policy set holds beside the policy, for compiling a rule (the pools)."""

    pools: Mapping[str, NodePool] = field(default_factory=dict)


@dataclass(frozen=True)
class Conflict:
    """A value a policy wanted for a key the pod already has with another value."""

    what: str
    key: str
    wanted: Any
    existing: Any


def _identity(items: Items) -> Items:
    return items


def _no_keys(items: Items) -> Iterable[str]:
    return ()


def _no_check(items: Items, before: Pod, after: Pod) -> list[FieldError]:
    return []


@dataclass(frozen=True)
class MutationKind(Generic[R]):
    name: str  # as written in a policy's `add`: "nodeAffinity.required"
    # The Mutations fields (dotted) its rule is compiled from. Their order in the model is the
    # order kinds run in, so a kind sees what the ones before it added to the same list.
    reads: tuple[str, ...]
    path: tuple[str, ...]  # where in the pod its items go
    patching: Patching
    placement: bool  # never added where placement is not (DaemonSet pods, excluded namespaces)
    # Whether its additions enter kube-scheduler's choice of node: its filters (tolerations,
    # required node affinity, spread constraints) or its node-affinity scoring. The final
    # judgement (webhook.engine.judge) takes these additions back from a policy that breaks
    # an intent of the set, and keeps the rest of what it adds.
    chooses_nodes: bool
    stale: frozenset[str]  # the PodFacts its additions change (webhook.match.facts.FACTS)
    compile: Callable[[Mutations, Context], R | None]  # None: the policy does not use it
    missing: Callable[[Pod, R, PodFacts], tuple[Items, list[Conflict]]]
    part: str = ""  # how `--explain` and policy tests name what it adds; default: `name`
    noun: str = ""  # what a conflict on one of its keys is called ("label")
    # The in-tree admission plugin whose rule it reproduces: what it adds is what the
    # apiserver itself adds where that plugin is on, part of the pod the set starts from.
    in_tree: str = ""
    keys: Callable[[Items], Iterable[str]] = field(default=_no_keys)  # keys it sets, for owners
    shown: Callable[[Items], Items] = field(default=_identity)  # its items as people read them
    parts: tuple[MutationKind[Any], ...] = ()  # Patching.COMPOSED: the kinds it is made of
    # The PodFacts what it adds depends on, beyond the fields it adds to (which policies only
    # add to): a policy that added nothing runs again when another's additions change them.
    depends: frozenset[str] = frozenset()
    # A metadata map it adds keys to (`labels`): each key added is also a changed fact of its
    # own, `labels/<key>`, which is all a selector on that key reads.
    keyed: str = ""
    # kube-apiserver's rules (webhook.kube.validation) on what its additions do to the pod
    # around them, `before` and `after` the policy: the values a policy adds were checked at
    # load with the same rules, but a valid value can still break the pod it joins (the
    # annotations' total size, a spread constraint's pair). A policy whose additions fail it
    # is not applied to the pod.
    check: Callable[[Items, Pod, Pod], list[FieldError]] = field(default=_no_check)

    @property
    def shown_as(self) -> str:
        return self.part or self.name


def missing_entries(
    what: str, present: Mapping[str, Any], wanted: Mapping[str, str]
) -> tuple[dict[str, str], list[Conflict]]:
    """Entries of `wanted` whose key the map lacks; a key it has with another value is kept."""
    added, conflicts = missing_by_key(what, dict(present), list(wanted.items()))
    return dict(added), conflicts


def missing_by_key(
    what: str, present: dict[str, Any], wanted: Iterable[tuple[str, Any]]
) -> tuple[list[tuple[str, Any]], list[Conflict]]:
    """The (key, item) pairs of `wanted` whose key is not `present` yet (nor earlier in
    `wanted`); a key present with another item is kept, and reported."""
    added: list[tuple[str, Any]] = []
    conflicts: list[Conflict] = []
    for key, item in wanted:
        if key in present:
            if present[key] != item:
                conflicts.append(Conflict(what, key, item, present[key]))
            continue
        present[key] = item
        added.append((key, item))
    return added, conflicts


def keyed_kind(
    name: str,
    noun: str,
    path: tuple[str, ...],
    stale: frozenset[str],
    check: Callable[[Items, Pod, Pod], list[FieldError]] = _no_check,
) -> MutationKind[Any]:
    """A kind that adds keys to one of the pod's metadata maps (labels, annotations): a key is
    added when the pod lacks it; the pod's own value always wins."""

    def compile_rule(add: Mutations, context: Context) -> dict[str, str] | None:
        return dict(getattr(add, name)) or None

    def missing(pod: Pod, rule: dict[str, str], facts: PodFacts) -> tuple[Items, list[Conflict]]:
        return missing_entries(noun, getattr(facts, name), rule)

    return MutationKind(
        name=name,
        reads=(name,),
        path=path,
        patching=Patching.KEYS,
        placement=False,
        chooses_nodes=False,
        stale=stale,
        compile=compile_rule,
        missing=missing,
        noun=noun,
        keys=list,
        check=check,
        keyed=name,
    )
