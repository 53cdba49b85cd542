"""`placement-webhook mutate` on a Job, CronJob or Argo workflow: the retries it gains.

`--explain` shows, for each pod its controller will create (one per workflow template, until
one goes to spot), where the set sends it; then the RetryPolicy that applies and what it adds,
or why nothing is added; then the diff of the object.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from typing import Any

import orjson
import yaml

from webhook.engine import CompiledPolicySet
from webhook.tools.explain import namespace_line
from webhook.tools.preview.placement import render_placement
from webhook.workloads import WorkloadResult, review_workload

_COLORS = {"+": "\033[32m", "-": "\033[31m", "@": "\033[36m", "!": "\033[33m"}
_RESET = "\033[0m"


def mutate_workload(
    compiled: CompiledPolicySet,
    obj: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    output: str,
    color: bool = False,
) -> int:
    """Print the object after the webhook (`yaml`), the patch (`patch`) or the explanation
    (`explain`); warnings go to standard error."""
    result = review_workload(compiled, obj, namespace, namespace_labels)
    if output == "explain":
        sys.stdout.write(render_workload_explain(obj, result, color, namespace, namespace_labels))
    elif output == "patch":
        sys.stdout.write(json.dumps(result.ops, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(_plain(result.object), sort_keys=False))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def render_workload_explain(
    obj: Mapping[str, Any],
    result: WorkloadResult,
    color: bool = False,
    namespace: str | None = None,
    namespace_labels: Mapping[str, str] | None = None,
) -> str:
    lines = [] if namespace is None else [namespace_line(namespace, namespace_labels)]
    for judged in result.judged:
        where = ", ".join(p.name for p in judged.placement.pools) or "no declared pool"
        spot = f" (spot: {', '.join(judged.placement.spot_pools)})" if judged.placement.spot else ""
        pod = f"template {judged.template}" if judged.template else f"{result.kind} pod"
        lines.append(f"- {pod}: {render_placement(judged.placement.pod)} -> {where}{spot}")
    lines += [f"note: {note}" for note in result.notes]
    if result.policy is not None and result.refused is None:
        lines.append(f"+ {result.policy}: matched, added {', '.join(result.added)}")
        body = yaml.safe_dump(_plain(result.added), sort_keys=False).rstrip("\n")
        lines += ["    " + line for line in body.splitlines()]
    elif result.policy is not None:
        lines.append(_paint(f"! {result.policy}: matched, added nothing ({result.refused})", color))
    lines.append("")
    before = yaml.safe_dump(_plain(obj), sort_keys=False).splitlines()
    after = yaml.safe_dump(_plain(result.object), sort_keys=False).splitlines()
    diff = list(difflib.unified_diff(before, after, "before", "after", lineterm=""))
    lines += [_paint(d, color) for d in diff] if diff else ["(unchanged)"]
    lines += [_paint(f"! warning: {w}", color) for w in result.warnings]
    return "\n".join(lines) + "\n"


def _paint(line: str, color: bool) -> str:
    code = _COLORS.get(line[:1]) if color else None
    return f"{code}{line}{_RESET}" if code else line


def _plain(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
