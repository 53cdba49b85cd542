"""The preview's rows, and their two renderings: a table, or the mutated pods as a List."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from webhook.engine import CompiledPolicySet, mutate
from webhook.kube.pod import display_name, metadata
from webhook.kube.workloads import workload_of
from webhook.tools.preview.controllers import Unsupported, build_pod
from webhook.tools.preview.documents import Item
from webhook.tools.preview.placement import render_placement
from webhook.tools.preview.workloads import workload_pods, workload_retries

COLUMNS = ("NAMESPACE", "POD", "WORKLOAD", "POLICIES", "BEFORE", "AFTER")


@dataclass(frozen=True)
class Row:
    namespace: str
    pod_name: str  # the pod's name, or `Kind/name` of the workload it was built from
    workload: str  # as the webhook recognises the pod (webhook.workloads)
    policies: tuple[str, ...]
    before: str
    after: str
    pod: Mapping[str, Any]  # the pod after the webhook
    warnings: tuple[str, ...] = field(default=())

    def cells(self) -> tuple[str, ...]:
        policies = ",".join(self.policies) or "-"
        return (self.namespace, self.pod_name, self.workload, policies, self.before, self.after)


@dataclass(frozen=True)
class Skip:
    source: str
    reason: str


@dataclass(frozen=True)
class Preview:
    rows: list[Row]
    skipped: list[Skip]


def preview(
    items: Iterable[Item],
    compiled: CompiledPolicySet,
    default_namespace: str,
    namespace_labels: Mapping[str, str] | None,
    now: datetime,
) -> Preview:
    """Each object's pod through the policy set; objects no pod comes from are skipped."""
    rows: list[Row] = []
    skipped: list[Skip] = []
    for item in items:
        try:
            pods = workload_pods(item.obj, now) or [build_pod(item.obj, now)]
        except Unsupported as exc:
            skipped.append(Skip(item.source, str(exc)))
            continue
        retries = workload_retries(item.obj, compiled, default_namespace, namespace_labels)
        for built in pods:
            pod = built.pod
            namespace = str(metadata(pod).get("namespace") or default_namespace)
            result = mutate(compiled, pod, namespace, namespace_labels)
            rows.append(
                Row(
                    namespace=namespace,
                    pod_name=built.workload or display_name(pod) or "-",
                    workload=workload_of(pod),
                    policies=tuple(result.applied) + retries.policies,
                    before=render_placement(pod),
                    after=render_placement(result.pod),
                    pod=plain(result.pod),
                    warnings=tuple(result.warnings) + retries.warnings,
                )
            )
    return Preview(rows, skipped)


def plain(value: Any) -> Any:
    """JSON-shaped data; YAML's timestamps become strings, and numeric keys too."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def render_table(rows: Sequence[Row]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in table
    )


def summary(result: Preview) -> str:
    changed = [row for row in result.rows if row.policies]
    names = sorted({name for row in changed for name in row.policies})
    line = f"{len(result.rows)} pods: {len(changed)} changed"
    line += f" by {', '.join(names)}" if names else ""
    line += f"; skipped: {len(result.skipped)}" if result.skipped else ""
    return line


def pod_list(rows: Sequence[Row]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": [row.pod for row in rows]}
