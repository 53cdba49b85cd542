"""`mutate --explain`: per policy, matched or why not and what it added; then a pod diff."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import orjson
import yaml

from webhook.engine import Result

_COLORS = {"+": "\033[32m", "-": "\033[31m", "@": "\033[36m", "!": "\033[33m"}
_RESET = "\033[0m"


def _yaml(value: Any) -> str:
    return yaml.safe_dump(orjson.loads(orjson.dumps(value)), sort_keys=False)


def _paint(line: str, color: bool) -> str:
    code = _COLORS.get(line[:1]) if color else None
    return f"{code}{line}{_RESET}" if code else line


AUDITED_SET = (
    "the whole set is in audit mode (PolicySettings mode: audit): the webhook answers without "
    "a patch and reports what follows as what it would add"
)


def namespace_line(
    namespace: str, labels: Mapping[str, str] | None, reads_labels: bool = True
) -> str:
    """The namespace, and its labels when a policy of the set reads them."""
    if labels is None:
        if not reads_labels:
            return f"namespace {namespace}"
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
    *,
    reads_namespace_labels: bool = True,
    set_audited: bool = False,
) -> str:
    lines: list[str] = [AUDITED_SET] if set_audited else []
    if namespace is not None:
        lines.append(namespace_line(namespace, namespace_labels, reads_namespace_labels))
    for outcome in result.outcomes:
        mode = " (audit)" if outcome.mode == "audit" else ""
        if not outcome.matched:
            lines.append(f"- {outcome.name}{mode}: not matched: {outcome.reason}")
            if outcome.clause is not None:
                lines.append(f"    clause: {outcome.clause}")
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
