"""The pod classes the placement proof tries, derived from the set's own clauses.

Every clause of every policy (`match` and each `exclude`) and of `keepOffSpot` says what a pod
must be for it to hold: a label, an annotation, a namespace and its labels, a resource, an
owner, Kueue. For each, the proof tries pods on both sides of it: the base classes (every
recognised workload, on CPU and on each extended resource the pools offer or a clause names,
with no placement of its own, with one of its own, and with a chart's tolerations that select
no pool, evictable or not) are on the side a pod without that label or annotation is on; each
clause adds the classes on the other side, for every workload. A namespace a clause names is
tried like the default one, with every base class.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from webhook.engine import CompiledPolicySet
from webhook.kube.kueue import MANAGED_LABEL
from webhook.kube.resources import is_extended_resource_name
from webhook.kube.scheduling import toleration_for
from webhook.kube.workloads import WORKLOADS
from webhook.policy.model import LabelSelector, MatchSpec
from webhook.proof.representatives import NAMES, SAFE_TO_EVICT, SIGNATURES

ALIKE_SHOWN = 2  # workloads named beside the one a class stands for
DEFAULT_RESOURCE = "nvidia.com/gpu"  # tried even where no pool offers a GPU: a set may place one
# Tolerations and a preference Zero to JupyterHub gives every user pod by default
# (jupyterhub/values.yaml, scheduling.userPods): they select a pool only where one carries
# that taint or label.
CHART_TOLERATIONS = (
    {"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user",
     "effect": "NoSchedule"},
    {"key": "hub.jupyter.org_dedicated", "operator": "Equal", "value": "user",
     "effect": "NoSchedule"},
)  # fmt: skip
CHART_PREFERENCE = {
    "weight": 100,
    "preference": {
        "matchExpressions": [
            {"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["user"]}
        ]
    },
}


@dataclass(frozen=True)
class Context:
    """Where a class is tried: a namespace and its labels (None: unknown)."""

    namespace: str
    labels: Mapping[str, str] | None
    description: str = ""


@dataclass(frozen=True)
class Variant:
    """A side of a policy's clauses: what it adds to a base pod, where it is tried, and the
    workloads and resources it concerns."""

    description: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    requests: Mapping[str, str] = field(default_factory=dict)
    owner: tuple[str, str] | None = None  # (apiVersion, kind) of the controller owner
    contexts: tuple[Context, ...] = ()  # default: the default context
    workloads: tuple[str, ...] = ()  # default: every workload
    resources: tuple[str, ...] | None = None  # default: CPU and every resource


@dataclass(frozen=True)
class PodClass:
    description: str  # how a problem names it: "a CPU notebook labelled team=batch"
    workload: str
    extended: tuple[str, ...]
    pod: Mapping[str, Any]
    context: Context


@dataclass
class Derivation:
    contexts: list[Context]  # where the base classes are tried; the first is the default one
    variants: list[Variant]
    resources: list[str]
    clauses: int  # clauses the variants and contexts come from
    # One workload of each kind the set's clauses tell apart, and those it stands for.
    workloads: dict[str, tuple[str, ...]]


UNKNOWN = "in a namespace whose labels are unknown"


def derive(compiled: CompiledPolicySet) -> Derivation:
    """The contexts, variants and resources the set's clauses call for: for each policy, pods
    that match it (in the namespaces it names, with namespace labels that satisfy it, and
    unknown ones), pods that match it but one of its excludes, and pods like those in each
    namespace it leaves out; for keepOffSpot, pods of each of its classes."""
    default = Context(_default_namespace(compiled), {})
    resources = _resources(compiled)
    variants: dict[tuple[Any, ...], Variant] = {}
    clauses = 0
    for policy in compiled.source.policies:
        match = policy.spec.match
        clauses += _clauses(match) + sum(_clauses(e) for e in policy.spec.exclude)
        name = f"matched by policy {policy.name}"
        for variant in _sides(compiled, name, match, None, default, resources):
            variants.setdefault(_identity(variant), variant)
        for i, exclude in enumerate(policy.spec.exclude):
            name = f"excluded from policy {policy.name} by exclude[{i}]"
            for variant in _sides(compiled, name, match, exclude, default, resources):
                variants.setdefault(_identity(variant), variant)
    for spec in compiled.settings.keep_off_spot:
        clauses += _clauses(spec)
        for variant in _sides(compiled, "", spec, None, default, resources):
            variants.setdefault(_identity(variant), variant)
    workloads = distinct_workloads(compiled)
    return Derivation([default], list(variants.values()), resources, clauses, workloads)


def distinct_workloads(compiled: CompiledPolicySet) -> dict[str, tuple[str, ...]]:
    """One workload of each kind the set can tell apart, and the others it stands for: clauses
    read a pod's workload only
    through `workloads` lists, and its controller's signature only through the label and
    annotation keys selectors name and the owner kinds `ownerKinds` names. DaemonSet and
    static pods, which never get a placement, are one kind each."""
    specs = [s for p in compiled.source.policies for s in (p.spec.match, *p.spec.exclude)]
    specs += compiled.settings.keep_off_spot
    lists = [frozenset(s.workloads) for s in specs if s.workloads]
    label_keys = {k for s in specs if s.pod_selector for k in _keys(s.pod_selector)}
    annotation_keys = {
        k for s in specs if s.annotation_selector for k in _keys(s.annotation_selector)
    }
    owners = any(s.owner_kinds for s in specs)
    kinds: dict[tuple[Any, ...], list[str]] = {}
    for workload in WORKLOADS:
        labels, annotations, owner = SIGNATURES[workload]
        key = (
            workload if workload in ("daemonset", "mirror") else "",
            tuple(workload in names for names in lists),
            tuple(sorted((k, v) for k, v in labels.items() if k in label_keys)),
            tuple(sorted((k, v) for k, v in annotations.items() if k in annotation_keys)),
            owner if owners else None,
        )
        kinds.setdefault(key, []).append(workload)
    return {alike[0]: tuple(alike[1:]) for alike in kinds.values()}


def _keys(selector: LabelSelector) -> set[str]:
    return {*selector.match_labels, *(e.key for e in selector.match_expressions)}


def pod_classes(
    compiled: CompiledPolicySet, derivation: Derivation, limit: int | None = None
) -> Iterator[PodClass]:
    """The base classes in the default context, then each variant on each of its workloads
    and resources (no placement of its own, evictable) in each of its contexts. Workloads the
    set's clauses cannot tell apart are tried once (`distinct_workloads`). With a `limit`, the
    variants take turns, so that every policy's first classes come before any policy's last."""
    own = _own_placements(compiled, derivation.resources)
    default = derivation.contexts[0]
    base = [
        _pod_class(workload, resource, placement, own, evictable, None, default, alike)
        for workload, alike in derivation.workloads.items()
        for resource in ["", *derivation.resources]
        for placement in ("", "chart", *(("own",) if resource in own else ()))
        for evictable in (True, False)
    ]
    sides = [_variant_classes(v, derivation, own, default) for v in derivation.variants]
    classes = itertools.chain(base, _in_turns(sides))
    return classes if limit is None else itertools.islice(classes, limit)


def count_classes(derivation: Derivation, compiled: CompiledPolicySet) -> int:
    """How many classes `pod_classes` yields with no limit."""
    return sum(1 for _ in pod_classes(compiled, derivation))


def _variant_classes(
    variant: Variant,
    derivation: Derivation,
    own: Mapping[str, tuple[dict[str, str], list[Any]]],
    default: Context,
) -> Iterator[PodClass]:
    resources = ["", *derivation.resources] if variant.resources is None else variant.resources
    for context in variant.contexts or (default,):
        for workload, alike in _alike(variant.workloads or WORKLOADS, derivation.workloads):
            for resource in resources:
                yield _pod_class(workload, resource, "", own, True, variant, context, alike)


def _alike(
    workloads: Sequence[str], kinds: Mapping[str, tuple[str, ...]]
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Of `workloads`, one of each kind (`distinct_workloads`) and the others of its kind."""
    for first, others in kinds.items():
        members = [w for w in (first, *others) if w in workloads]
        if members:
            yield members[0], tuple(members[1:])


def _in_turns(iterators: list[Iterator[PodClass]]) -> Iterator[PodClass]:
    """One item of each iterator in turn, until all are done."""
    live = list(iterators)
    while live:
        still = []
        for iterator in live:
            item = next(iterator, None)
            if item is not None:
                yield item
                still.append(iterator)
        live = still


def _pod_class(
    workload: str,
    resource: str,
    placement: str,
    own: Mapping[str, tuple[dict[str, str], list[Any]]],
    evictable: bool,
    variant: Variant | None,
    context: Context,
    alike: tuple[str, ...] = (),
) -> PodClass:
    signature_labels, signature_annotations, owner = SIGNATURES[workload]
    labels, annotations = dict(signature_labels), dict(signature_annotations)
    requests = {"cpu": "1", **({resource: "1"} if resource else {})}
    if not evictable:
        annotations[SAFE_TO_EVICT] = "false"
    if variant is not None:
        labels.update(variant.labels)
        annotations.update(variant.annotations)
        requests.update(variant.requests)
        owner = variant.owner or owner
    metadata: dict[str, Any] = {"name": f"{workload}-example", "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    if owner is not None:
        ref = {"apiVersion": owner[0], "kind": owner[1], "name": "owner", "uid": "0f3c"}
        metadata["ownerReferences"] = [{**ref, "controller": True}]
    resources = {"requests": requests, "limits": dict(requests)}
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "image": "example.com/main:1", "resources": resources}]
    }
    if placement == "own":
        spec["nodeSelector"], spec["tolerations"] = dict(own[resource][0]), list(own[resource][1])
    elif placement == "chart":
        spec["tolerations"] = [dict(t) for t in CHART_TOLERATIONS]
        spec["affinity"] = {
            "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [CHART_PREFERENCE]}
        }
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    description = _description(workload, resource, placement, evictable, variant, context, alike)
    return PodClass(description, workload, (resource,) if resource else (), pod, context)


def _description(
    workload: str,
    resource: str,
    placement: str,
    evictable: bool,
    variant: Variant | None,
    context: Context,
    alike: tuple[str, ...],
) -> str:
    kind = "GPU" if resource == DEFAULT_RESOURCE else (resource or "CPU")
    parts = [f"a {kind} {NAMES.get(workload, workload)}"]
    if alike:
        names = [NAMES.get(w, w) for w in alike[:ALIKE_SHOWN]]
        more = f" and {len(alike) - ALIKE_SHOWN} more" if len(alike) > ALIKE_SHOWN else ""
        parts[0] += f" (or {', '.join(names)}{more}: the set treats them alike)"
    if placement == "own":
        parts.append("with its own placement")
    elif placement == "chart":
        parts.append("with a chart's tolerations that select no pool")
    if not evictable:
        parts.append("annotated safe-to-evict false")
    if variant is not None:
        parts.append(variant.description)
    if context.description:
        parts.append(context.description)
    return " ".join(parts)


def _own_placements(
    compiled: CompiledPolicySet, resources: Sequence[str]
) -> dict[str, tuple[dict[str, str], list[Any]]]:
    """For CPU ("") and each resource, a placement a pod's author could choose: a pool that
    runs it, by its labels, its taints tolerated."""
    own: dict[str, tuple[dict[str, str], list[Any]]] = {}
    for resource in ["", *resources]:
        pool = next(
            (p for p in compiled.pools if not resource or resource in p.node.extended_resources),
            None,
        )
        if pool is not None:
            own[resource] = (dict(pool.node.labels), [toleration_for(t) for t in pool.node.taints])
    return own


def _default_namespace(compiled: CompiledPolicySet) -> str:
    excluded = compiled.placement_excluded
    return next(n for n in ("default", "proof", "proof-1", "proof-2") if not excluded(n))


def _clauses(spec: MatchSpec) -> int:
    present = (
        spec.namespaces,
        spec.exclude_namespaces,
        spec.pod_selector,
        spec.annotation_selector,
        spec.namespace_selector,
        spec.owner_kinds,
        spec.workloads,
        spec.requests,
        spec.extended_resources is not None,
        spec.placement != "any",
        spec.queued is not None,
    )
    return sum(1 for clause in present if clause)


def _resources(compiled: CompiledPolicySet) -> list[str]:
    """The extended resources the pools offer or a clause names, and a GPU."""
    offered = {r for pool in compiled.pools for r in pool.node.extended_resources}
    named = {
        r
        for p in compiled.source.policies
        for spec in (p.spec.match, *p.spec.exclude)
        for r in spec.requests
        if is_extended_resource_name(r)
    }
    return sorted(offered | named | {DEFAULT_RESOURCE})


def _sides(
    compiled: CompiledPolicySet,
    name: str,
    match: MatchSpec,
    exclude: MatchSpec | None,
    default: Context,
    resources: list[str],
) -> Iterator[Variant]:
    """Pods satisfying `match` (and `exclude`, when given) where `match` holds; and pods
    satisfying them in each namespace `match` leaves out."""
    specs = (match,) if exclude is None else (match, exclude)
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    requests: dict[str, str] = {}
    owner = None
    for spec in specs:
        if spec.pod_selector is not None:
            labels.update(_satisfying(spec.pod_selector))
        if spec.annotation_selector is not None:
            annotations.update(_satisfying(spec.annotation_selector))
        for request in spec.requests[:1]:
            if not is_extended_resource_name(request):
                requests[request] = "1"
        if spec.owner_kinds:
            group, _, kind = spec.owner_kinds[0].rpartition("/")
            owner = (f"{group}/v1" if group else "v1", kind)
        if spec.queued:
            labels[MANAGED_LABEL] = "true"
    workloads = tuple(
        w for w in WORKLOADS if all(not s.workloads or w in s.workloads for s in specs)
    )
    in_match = _contexts(compiled, match, exclude, default)
    variant = Variant(
        _shown_parts(name, labels, annotations, requests, owner),
        labels,
        annotations,
        requests,
        owner,
        in_match,
        workloads,
        _resources_of(specs, resources),
    )
    yield variant
    for namespace in _names(compiled, match.exclude_namespaces):
        yield replace(variant, contexts=(Context(namespace, {}, f"in namespace {namespace}"),))
    for spec in specs:
        for other in _other_sides(spec.pod_selector) if spec.pod_selector else ():
            description = f"{variant.description} but labelled {_shown(other)}"
            yield replace(variant, description=description, labels={**labels, **other})


def _contexts(
    compiled: CompiledPolicySet, match: MatchSpec, exclude: MatchSpec | None, default: Context
) -> tuple[Context, ...]:
    """Where `match` (and `exclude`) hold: the namespaces they name and the namespace labels
    they ask for, and labels unknown where they ask for some."""
    names = _names(compiled, (exclude.namespaces if exclude else ()) or match.namespaces)
    selector_labels: dict[str, str] | None = None
    selectors = [s.namespace_selector for s in (match, exclude) if s is not None]
    for selector in selectors:
        if selector is not None:
            selector_labels = {**(selector_labels or {}), **_satisfying(selector)}
    contexts = []
    for namespace in names or [default.namespace]:
        where = f"in namespace {namespace}" if names else ""
        if selector_labels is None:
            contexts.append(Context(namespace, {}, where))
            continue
        shown = f"with namespace labels {_shown(selector_labels) or '(none)'}"
        contexts.append(Context(namespace, selector_labels, f"{where} {shown}".strip()))
        contexts.append(Context(namespace, None, f"{where} {UNKNOWN}".strip()))
    return tuple(contexts)


def _names(compiled: CompiledPolicySet, patterns: Sequence[str]) -> list[str]:
    """Namespace names for `patterns` (a glob with its wildcards filled in), those placement
    is not excluded from."""
    names = []
    for pattern in patterns:
        name = pattern.replace("*", "x").replace("?", "x")
        if "[" not in name and not compiled.placement_excluded(name):
            names.append(name)
    return list(dict.fromkeys(names))


def _resources_of(specs: Sequence[MatchSpec], resources: list[str]) -> tuple[str, ...]:
    """CPU ("") and the resources a pod matching `specs` may request."""
    out = ["", *resources]
    for spec in specs:
        if spec.extended_resources is True:
            out = [r for r in out if r]
        elif spec.extended_resources is False:
            out = [r for r in out if not r]
        named = [r for r in spec.requests if is_extended_resource_name(r)]
        if named:
            out = [r for r in out if r in named] or named[:1]
    return tuple(out)


def _satisfying(selector: LabelSelector) -> dict[str, str]:
    """A label set that satisfies the selector."""
    labels = dict(selector.match_labels)
    for expr in selector.match_expressions:
        if expr.operator == "In":
            labels.setdefault(expr.key, expr.values[0])
        elif expr.operator == "Exists":
            labels.setdefault(expr.key, "x")
    return labels


def _other_sides(selector: LabelSelector) -> Iterator[dict[str, str]]:
    """For each requirement an absent key satisfies (NotIn, DoesNotExist), labels that do
    not satisfy it."""
    for expr in selector.match_expressions:
        if expr.operator == "NotIn":
            yield {expr.key: expr.values[0]}
        elif expr.operator == "DoesNotExist":
            yield {expr.key: "x"}


def _shown_parts(
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    requests: Mapping[str, str],
    owner: tuple[str, str] | None,
) -> str:
    parts = [name] if name else []
    if labels:
        parts.append(f"labelled {_shown(labels)}")
    if annotations:
        parts.append(f"annotated {_shown(annotations)}")
    for request in requests:
        parts.append(f"requesting {request}")
    if owner is not None:
        parts.append(f"owned by a {owner[1]}")
    return ", ".join(parts)


def _shown(values: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items()))


def _identity(variant: Variant) -> tuple[Any, ...]:
    return (
        tuple(sorted(variant.labels.items())),
        tuple(sorted(variant.annotations.items())),
        tuple(sorted(variant.requests.items())),
        variant.owner,
        tuple(
            (c.namespace, None if c.labels is None else tuple(sorted(c.labels.items())))
            for c in variant.contexts
        ),
        variant.workloads,
        variant.resources,
    )
