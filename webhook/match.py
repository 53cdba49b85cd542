"""Deciding whether a policy applies to a pod: compiled once per policy set, run per request.

`compile_match` turns a MatchSpec into a list of small checks, cheapest first. Each check
returns None when it holds, or a short reason when it does not (shown by `--explain`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from webhook import pod as podlib
from webhook.additions import Additions
from webhook.mutations.tolerations import extended_resources
from webhook.policy.model import LabelSelector, MatchSpec
from webhook.workloads import workload_of


@dataclass
class PodFacts:
    """What the checks read from one pod, computed once and only when first asked for."""

    pod: Mapping[str, Any]
    namespace: str
    namespace_labels: Mapping[str, str] | None = None

    @cached_property
    def labels(self) -> Mapping[str, Any]:
        return podlib.labels_of(self.pod)

    @cached_property
    def annotations(self) -> Mapping[str, Any]:
        return podlib.annotations_of(self.pod)

    @cached_property
    def owner_kinds(self) -> tuple[str, str]:
        return podlib.owner_kind_names(self.pod)

    @cached_property
    def workload(self) -> str:
        return workload_of(self.pod)

    @cached_property
    def resources(self) -> set[str]:
        return podlib.requested_resources(self.pod)

    @cached_property
    def extended(self) -> set[str]:
        return set(extended_resources(self.resources))

    @cached_property
    def own_placement(self) -> bool:
        return podlib.has_own_placement(self.pod, self.extended)

    def advance(self, pod: Mapping[str, Any], added: Additions) -> None:
        """Now about `pod`, this pod with `added` applied: only the facts the additions can
        change are forgotten (policies never add containers or owners), so a policy that adds
        an annotation does not make every later one read the containers again."""
        self.pod = pod
        stale = []
        if added.labels or added.annotations:
            stale += ["labels", "annotations", "workload"]
        if added.tolerations or added.node_required or added.node_preferred:
            stale.append("own_placement")
        known = vars(self)  # where cached_property keeps the facts computed so far
        for name in stale:
            known.pop(name, None)


Check = Callable[[PodFacts], str | None]


def glob_matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    exact = frozenset(p for p in patterns if not any(c in p for c in "*?["))
    globs = [p for p in patterns if p not in exact]
    regex = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None
    return lambda name: name in exact or (regex is not None and regex.match(name) is not None)


def compile_selector(selector: LabelSelector) -> Callable[[Mapping[str, Any]], str | None]:
    """Kubernetes LabelSelector semantics on a string map; returns the first failed clause."""
    pairs: list[tuple[str, str, tuple[str, ...]]] = [
        (k, "In", (v,)) for k, v in selector.match_labels.items()
    ]
    pairs += [(e.key, e.operator, e.values) for e in selector.match_expressions]
    # The sorted value lists of the reasons are written here once, not on every failed match.
    clauses = [(key, op, frozenset(values), str(sorted(set(values)))) for key, op, values in pairs]

    def check(values: Mapping[str, Any]) -> str | None:
        for key, op, allowed, shown in clauses:
            present = key in values
            if op == "In" and not (present and values[key] in allowed):
                return f"{key} not in {shown}"
            if op == "NotIn" and present and values[key] in allowed:
                return f"{key} in {shown}"
            if op == "Exists" and not present:
                return f"{key} absent"
            if op == "DoesNotExist" and present:
                return f"{key} present"
        return None

    return check


def compile_match(spec: MatchSpec) -> list[Check]:
    checks: list[Check] = []
    if spec.namespaces:
        in_namespaces = glob_matcher(spec.namespaces)
        names_shown = str(list(spec.namespaces))
        checks.append(
            lambda f: (
                None
                if in_namespaces(f.namespace)
                else f"namespace {f.namespace!r} not in {names_shown}"
            )
        )
    if spec.exclude_namespaces:
        excluded = glob_matcher(spec.exclude_namespaces)
        checks.append(
            lambda f: f"namespace {f.namespace!r} excluded" if excluded(f.namespace) else None
        )
    if spec.pod_selector is not None:
        on_labels = compile_selector(spec.pod_selector)
        checks.append(lambda f: _prefixed("label ", on_labels(f.labels)))
    if spec.annotation_selector is not None:
        on_annotations = compile_selector(spec.annotation_selector)
        checks.append(lambda f: _prefixed("annotation ", on_annotations(f.annotations)))
    if spec.owner_kinds:
        kinds = frozenset(spec.owner_kinds)
        kinds_shown = str(sorted(kinds))
        checks.append(
            lambda f: (
                None
                if kinds.intersection(f.owner_kinds)
                else f"owner {f.owner_kinds[1] or 'none'} not in {kinds_shown}"
            )
        )
    if spec.workloads:
        workloads = frozenset(spec.workloads)
        workloads_shown = str(sorted(workloads))
        checks.append(
            lambda f: (
                None
                if f.workload in workloads
                else f"workload {f.workload} not in {workloads_shown}"
            )
        )
    if spec.requests:
        wanted = frozenset(spec.requests)
        wanted_reason = f"requests none of {sorted(wanted)}"
        checks.append(lambda f: None if wanted.intersection(f.resources) else wanted_reason)
    if spec.extended_resources is not None:
        want = spec.extended_resources
        checks.append(
            lambda f: (
                None
                if bool(f.extended) == want
                else (
                    "requests no extended resource"
                    if want
                    else f"requests extended resources {sorted(f.extended)}"
                )
            )
        )
    if spec.placement == "none":
        checks.append(lambda f: "pod has its own placement" if f.own_placement else None)
    elif spec.placement == "own":
        checks.append(lambda f: None if f.own_placement else "pod has no placement of its own")
    if spec.namespace_selector is not None:
        on_namespace = compile_selector(spec.namespace_selector)

        def namespace_labels_check(f: PodFacts) -> str | None:
            if f.namespace_labels is None:
                return "namespace labels unknown (namespace view not synced)"
            return _prefixed("namespace label ", on_namespace(f.namespace_labels))

        checks.append(namespace_labels_check)
    return checks


def _prefixed(prefix: str, reason: str | None) -> str | None:
    return None if reason is None else prefix + reason


def first_failure(checks: list[Check], facts: PodFacts) -> str | None:
    for check in checks:
        reason = check(facts)
        if reason is not None:
            return reason
    return None


def index_keys(
    spec: MatchSpec,
) -> tuple[tuple[str, ...], tuple[tuple[str, str | None], ...]]:
    """What a policy can be found by, so most policies are never evaluated for a pod.

    (names, ()) when the policy lists exact namespaces only; ((), pairs) when its pod selector
    needs a label: (key, value) for each value it accepts, or (key, None) for any value;
    ((), ()) when it must be considered for every pod.
    """
    if spec.namespaces and not any(any(c in n for c in "*?[") for n in spec.namespaces):
        # Deduplicated: a name listed twice must not make the policy a candidate twice.
        return tuple(dict.fromkeys(spec.namespaces)), ()
    selector = spec.pod_selector
    if selector is not None:
        if selector.match_labels:
            key = sorted(selector.match_labels)[0]
            return (), ((key, selector.match_labels[key]),)
        for expr in selector.match_expressions:
            if expr.operator == "In":
                return (), tuple((expr.key, v) for v in dict.fromkeys(expr.values))
            if expr.operator == "Exists":
                return (), ((expr.key, None),)
    return (), ()
