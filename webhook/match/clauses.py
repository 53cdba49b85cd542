"""A policy's `match` (and each `exclude`) compiled into small checks, cheapest first.

Each check returns None when its clause holds, or the clause's Failure: made once, at compile
time, it names the clause as it is written in the policy (`match.workloads`) and describes the
mismatch for people (`--explain`, policy tests) only when asked; nothing downstream reads the
description to learn which clause failed.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.match.facts import PodFacts
from webhook.policy.model import LabelSelector, MatchSpec


@dataclass(frozen=True)
class Failure:
    """A clause that does not hold: `clause` as written in the policy; `describe(facts)` says
    why, for people; `reads` the pod facts (webhook.match.facts.FACTS) it reads: while none of
    them changes, it still does not hold (another policy's additions can change them)."""

    clause: str
    describe: Callable[[PodFacts], str]
    reads: frozenset[str] = frozenset()


def fixed(clause: str, message: str, reads: frozenset[str] = frozenset()) -> Failure:
    return Failure(clause, lambda facts: message, reads)


def reading(*facts: str) -> frozenset[str]:
    return frozenset(facts)


def keys_of(fact: str, selector: LabelSelector) -> frozenset[str]:
    """What a selector on `fact` (labels, annotations) reads: its keys, `labels/<key>`."""
    keys = {*selector.match_labels, *(e.key for e in selector.match_expressions)}
    return frozenset(f"{fact}/{key}" for key in keys)


Check = Callable[[PodFacts], Failure | None]


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
    # The sorted value lists of the messages are written here once, not on every failed match.
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


def _on_map(clause: str, prefix: str, selector: LabelSelector, fact: str) -> Check:
    on_values = compile_selector(selector)
    read = operator.attrgetter(fact)
    failure = Failure(
        clause, lambda f: prefix + (on_values(read(f)) or ""), keys_of(fact, selector)
    )
    return lambda f: None if on_values(read(f)) is None else failure


def compile_match(spec: MatchSpec, where: str = "match") -> list[Check]:
    """The checks of one MatchSpec; `where` names it in failures (`match`, `exclude[0]`)."""
    checks = _namespace_checks(spec, where)
    if spec.pod_selector is not None:
        clause = f"{where}.podSelector"
        checks.append(_on_map(clause, "label ", spec.pod_selector, "labels"))
    if spec.annotation_selector is not None:
        clause = f"{where}.annotationSelector"
        checks.append(_on_map(clause, "annotation ", spec.annotation_selector, "annotations"))
    checks += _pod_checks(spec, where)
    if spec.namespace_selector is not None:
        checks.append(_namespace_labels_check(spec.namespace_selector, where))
    return checks


def match_reads(spec: MatchSpec) -> frozenset[str]:
    """The pod facts (webhook.match.facts.FACTS) the checks of `spec` read: what an exclude
    that held reads."""
    read = {
        "owner_kinds": bool(spec.owner_kinds),
        "workload": bool(spec.workloads),
        "resources": bool(spec.requests),
        "extended": spec.extended_resources is not None,
        "own_placement": spec.placement != "any",
        "queued": spec.queued is not None,
    }
    keys = [
        keys_of(fact, selector)
        for fact, selector in (
            ("labels", spec.pod_selector),
            ("annotations", spec.annotation_selector),
        )
        if selector is not None
    ]
    return frozenset(name for name, reads in read.items() if reads).union(*keys)


def _namespace_checks(spec: MatchSpec, where: str) -> list[Check]:
    checks: list[Check] = []
    if spec.namespaces:
        in_namespaces = glob_matcher(spec.namespaces)
        names_shown = str(list(spec.namespaces))
        outside = Failure(
            f"{where}.namespaces", lambda f: f"namespace {f.namespace!r} not in {names_shown}"
        )
        checks.append(lambda f: None if in_namespaces(f.namespace) else outside)
    if spec.exclude_namespaces:
        excluded = glob_matcher(spec.exclude_namespaces)
        inside = Failure(
            f"{where}.excludeNamespaces", lambda f: f"namespace {f.namespace!r} excluded"
        )
        checks.append(lambda f: inside if excluded(f.namespace) else None)
    return checks


def _pod_checks(spec: MatchSpec, where: str) -> list[Check]:
    checks: list[Check] = []
    if spec.owner_kinds:
        kinds = frozenset(spec.owner_kinds)
        kinds_shown = str(sorted(kinds))
        other_owner = Failure(
            f"{where}.ownerKinds",
            lambda f: f"owner {f.owner_kinds[1] or 'none'} not in {kinds_shown}",
            reading("owner_kinds"),
        )
        checks.append(lambda f: None if kinds.intersection(f.owner_kinds) else other_owner)
    if spec.workloads:
        workloads = frozenset(spec.workloads)
        workloads_shown = str(sorted(workloads))
        other_workload = Failure(
            f"{where}.workloads",
            lambda f: f"workload {f.workload} not in {workloads_shown}",
            reading("workload"),
        )
        checks.append(lambda f: None if f.workload in workloads else other_workload)
    if spec.requests:
        wanted = frozenset(spec.requests)
        no_request = fixed(
            f"{where}.requests", f"requests none of {sorted(wanted)}", reading("resources")
        )
        checks.append(lambda f: None if wanted.intersection(f.resources) else no_request)
    if spec.extended_resources is not None:
        checks.append(_extended_check(spec.extended_resources, f"{where}.extendedResources"))
    if spec.placement != "any":
        checks.append(_fact_check("own_placement", spec.placement == "own", f"{where}.placement"))
    if spec.queued is not None:
        checks.append(_fact_check("queued", spec.queued, f"{where}.queued"))
    return checks


def _extended_check(want: bool, clause: str) -> Check:
    if want:
        none_requested = fixed(clause, "requests no extended resource", reading("extended"))
        return lambda f: None if f.extended else none_requested
    some_requested = Failure(
        clause, lambda f: f"requests extended resources {sorted(f.extended)}", reading("extended")
    )
    return lambda f: some_requested if f.extended else None


# The yes/no facts a clause can ask for, and how a failure reads when the fact is true/false.
YES_NO_FACTS = {
    "own_placement": ("pod has its own placement", "pod has no placement of its own"),
    "queued": ("pod is placed by Kueue", "pod is not placed by Kueue"),
}


def _fact_check(name: str, want: bool, clause: str) -> Check:
    """A clause that holds when a yes/no fact of the pod is `want`."""
    fact = operator.attrgetter(name)
    when_true, when_false = (fixed(clause, text, reading(name)) for text in YES_NO_FACTS[name])
    if want:
        return lambda f: None if fact(f) else when_false
    return lambda f: when_true if fact(f) else None


def _namespace_labels_check(selector: LabelSelector, where: str) -> Check:
    on_namespace = compile_selector(selector)
    clause = f"{where}.namespaceSelector"
    unknown = fixed(clause, "namespace labels unknown (namespace view not synced)")
    other = Failure(
        clause, lambda f: "namespace label " + (on_namespace(f.namespace_labels or {}) or "")
    )

    def check(f: PodFacts) -> Failure | None:
        if f.namespace_labels is None:
            return unknown
        return None if on_namespace(f.namespace_labels) is None else other

    return check


def first_failure(checks: list[Check], facts: PodFacts) -> Failure | None:
    for check in checks:
        failed = check(facts)
        if failed is not None:
            return failed
    return None
