"""`mutate --explain`: per policy, matched or why not and what it added; then a pod diff."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

import orjson
import yaml

from webhook.engine import Result

_COLORS = {"+": "\033[32m", "-": "\033[31m", "@": "\033[36m", "!": "\033[33m"}
_RESET = "\033[0m"

# The policy-language clause behind each reason `match.py` gives, by the words the reason starts
# with (tests/test_explain.py runs every clause, so a reworded reason fails there, not here).
_CLAUSES = (
    (re.compile(r"namespace labels? "), "match.namespaceSelector"),
    (re.compile(r"namespace .* excluded$"), "match.excludeNamespaces"),
    (re.compile(r"namespace .* not in "), "match.namespaces"),
    (re.compile(r"label "), "match.podSelector"),
    (re.compile(r"annotation "), "match.annotationSelector"),
    (re.compile(r"owner "), "match.ownerKinds"),
    (re.compile(r"workload "), "match.workloads"),
    (re.compile(r"requests none of "), "match.requests"),
    (re.compile(r"requests (no )?extended resources?"), "match.extendedResources"),
    (re.compile(r"pod has "), "match.placement"),
    (re.compile(r"excluded by (exclude\[\d+\])$"), ""),
)


def _yaml(value: Any) -> str:
    return yaml.safe_dump(orjson.loads(orjson.dumps(value)), sort_keys=False)


def _paint(line: str, color: bool) -> str:
    code = _COLORS.get(line[:1]) if color else None
    return f"{code}{line}{_RESET}" if code else line


def failed_clause(reason: str) -> str | None:
    """`match.workloads` for "workload job not in [...]"; `exclude[0]` for an exclusion."""
    for pattern, clause in _CLAUSES:
        found = pattern.match(reason)
        if found:
            return clause or found.group(1)
    return None


def namespace_line(namespace: str, labels: Mapping[str, str] | None) -> str:
    if labels is None:
        return (f"namespace {namespace}: labels unknown, namespaceSelector clauses do not match "
                "(give --namespace-labels k=v,...)")  # fmt: skip
    shown = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"
    return f"namespace {namespace}: labels {shown}"


def render_explain(
    pod: Mapping[str, Any],
    result: Result,
    color: bool = False,
    namespace: str | None = None,
    namespace_labels: Mapping[str, str] | None = None,
) -> str:
    lines: list[str] = []
    if namespace is not None:
        lines.append(namespace_line(namespace, namespace_labels))
    for outcome in result.outcomes:
        mode = " (audit)" if outcome.mode == "audit" else ""
        if not outcome.matched:
            lines.append(f"- {outcome.name}{mode}: not matched: {outcome.reason}")
            clause = failed_clause(outcome.reason or "")
            if clause:
                lines.append(f"    clause: {clause}")
            continue
        if outcome.error:
            lines.append(_paint(f"! {outcome.name}{mode}: skipped, error: {outcome.error}", color))
            continue
        added = outcome.additions.as_dict()
        verb = "would add" if outcome.mode == "audit" else "added"
        lines.append(
            f"+ {outcome.name}{mode}: matched, {verb} "
            + (", ".join(added) if added else "nothing (already present)")
        )
        for part, value in added.items():
            body = _yaml({part: value}).rstrip("\n").splitlines()
            lines += ["    " + b for b in body]
        lines += [f"    note: {n}" for n in outcome.notes]
    lines.append("")
    before = _yaml(pod).splitlines()
    after = _yaml(result.pod).splitlines()
    diff = list(difflib.unified_diff(before, after, "pod (before)", "pod (after)", lineterm=""))
    lines += [_paint(d, color) for d in diff] if diff else ["(pod unchanged)"]
    for warning in result.warnings:
        lines.append(_paint(f"! warning: {warning}", color))
    return "\n".join(lines) + "\n"
