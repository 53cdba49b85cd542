"""The preview's rows, one per pod as it is read, and their renderings: a table that fits 120
columns (`--wide`: every cell whole, and the placements), a summary, or the mutated pods."""

from __future__ import annotations

import re
import textwrap
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from webhook.engine import CompiledPolicySet, mutate
from webhook.kube.pod import display_name, metadata
from webhook.kube.workloads import workload_of
from webhook.match.facts import PodFacts
from webhook.tools.inputs import DocumentError, Item
from webhook.tools.preview.controllers import Built, Unsupported, build_pod
from webhook.tools.preview.placement import render_placement
from webhook.tools.preview.reach import Reach, reach, render_pools, why_unchanged
from webhook.tools.preview.replay import as_created
from webhook.tools.preview.workloads import workload_pods, workload_retries

COLUMNS = ("NAMESPACE", "POD", "POLICIES", "BEFORE", "AFTER", "WHY UNCHANGED")
WIDE_COLUMNS = (
    "NAMESPACE",
    "POD",
    "WORKLOAD",
    "POLICIES",
    "POOLS BEFORE",
    "POOLS AFTER",
    "WHY UNCHANGED",
    "PLACEMENT BEFORE",
    "PLACEMENT AFTER",
)
# The widest each column of the default table may be: with two spaces between them, 120.
WIDTHS = (14, 28, 20, 16, 16, 14)
CUT = "…"


@dataclass(frozen=True)
class Row:
    namespace: str
    pod_name: str  # the pod's name, or `Kind/name` of the workload it was built from
    workload: str  # as the webhook recognises the pod (webhook.kube.workloads)
    policies: tuple[str, ...]  # applied; audited ones marked `(audit)`
    before: str  # placement, as `render_placement` shows it
    after: str
    reach: Reach
    why: str  # why the placement is unchanged; "" when it changed
    declared: int  # pools the set declares
    pod: Mapping[str, Any] | None = None  # the pod after the webhook, when the output needs it
    warnings: tuple[str, ...] = field(default=())

    def cells(self, wide: bool = False) -> tuple[str, ...]:
        policies = ",".join(self.policies) or "-"
        before = render_pools(self.reach.before, self.declared)
        after = render_pools(self.reach.after, self.declared)
        if self.reach.before is None:  # no pool declared: the placements themselves
            before, after = self.before, self.after
        why = self.why or "-"
        if not wide:
            return (self.namespace, self.pod_name, policies, before, after, why)
        return (
            self.namespace,
            self.pod_name,
            self.workload,
            policies,
            before,
            after,
            why,
            self.before,
            self.after,
        )


@dataclass(frozen=True)
class Skip:
    source: str
    reason: str


@dataclass
class Tally:
    """The summary, counted as rows go by."""

    pods: int = 0
    changed: int = 0
    policies: set[str] = field(default_factory=set)
    reach_changed: int = 0
    onto_spot: int = 0
    off_spot: int = 0
    skipped: int = 0

    def add(self, row: Row | Skip) -> None:
        if isinstance(row, Skip):
            self.skipped += 1
            return
        self.pods += 1
        self.changed += bool(row.policies)
        self.policies.update(p.removesuffix(" (audit)") for p in row.policies)
        self.reach_changed += row.reach.before != row.reach.after
        self.onto_spot += row.reach.move == "onto spot"
        self.off_spot += row.reach.move == "off spot"

    def lines(self) -> list[str]:
        """The counts, then the policies that changed pods, wrapped at 120 columns."""
        line = f"{self.pods} pods: {self.changed} changed"
        line += f"; {self.reach_changed} reach other pools"
        line += f" ({self.onto_spot} onto spot, {self.off_spot} off spot)"
        line += f"; skipped: {self.skipped}" if self.skipped else ""
        if not self.policies:
            return [line]
        names = ", ".join(sorted(self.policies))
        return [
            line,
            *textwrap.wrap(
                f"changed by: {names}", 120, subsequent_indent="  ", break_on_hyphens=False
            ),
        ]


LabelsOf = Callable[[str], Mapping[str, str] | None]  # a namespace's labels; None: unknown


def preview(
    items: Iterable[Item],
    compiled: CompiledPolicySet,
    default_namespace: str,
    labels_of: LabelsOf,
    now: datetime,
    keep_pods: bool = False,
) -> Iterator[Row | Skip]:
    """Each object's pod through the policy set, as the objects are read; objects no pod comes
    from are skipped. A pod read back from a cluster is replayed as it was created.

    Without the pods to write, a pod equal to one judged before gets its row: the replicas of a
    Deployment or the pods of a Job differ only in what replay drops and in the name of their
    service-account token volume, which no policy reads and no row shows."""
    seen: OrderedDict[bytes, Row] = OrderedDict()
    for item in items:
        try:
            pods = workload_pods(item.obj, now) or [build_pod(item.obj, now)]
        except Unsupported as exc:
            yield Skip(item.source, str(exc))
            continue
        retries = workload_retries(item.obj, compiled, default_namespace, labels_of)
        for built in pods:
            row = _row(compiled, item, built, default_namespace, labels_of, keep_pods, seen)
            if retries.policies or retries.warnings:
                policies, warnings = (
                    row.policies + retries.policies,
                    row.warnings + retries.warnings,
                )
                row = replace(row, policies=policies, warnings=warnings)
            yield row


def _row(
    compiled: CompiledPolicySet,
    item: Item,
    built: Built,
    default_namespace: str,
    labels_of: LabelsOf,
    keep_pods: bool,
    seen: OrderedDict[bytes, Row],
) -> Row:
    """The row of one built pod; one equal to a pod judged before (`seen`) reuses its row."""
    pod = built.pod if built.workload else as_created(built.pod)
    namespace = str(metadata(pod).get("namespace") or default_namespace)
    name = built.workload or display_name(item.obj) or "-"
    key = None if keep_pods else _same_as(pod, namespace)
    row = seen.get(key) if key is not None else None
    if row is not None and key is not None:
        seen.move_to_end(key)
        return replace(row, pod_name=name) if row.pod_name != name else row
    row = row_of(compiled, name, pod, namespace, labels_of(namespace), keep_pods)
    if key is not None:
        seen[key] = row
        if len(seen) > REMEMBERED:
            seen.popitem(last=False)
    return row


REMEMBERED = 4096  # rows of distinct pods kept for their replicas
# The ServiceAccount admission plugin names each pod's token volume with five random characters
# (plugin/pkg/admission/serviceaccount/admission.go: "kube-api-access-" + rand.String(5)).
_TOKEN_VOLUME = re.compile(rb"kube-api-access-[a-z0-9]{5}")


def _same_as(pod: Mapping[str, Any], namespace: str) -> bytes | None:
    """What decides the row of `pod`: the pod itself, its token volume's name left out."""
    try:
        data = orjson.dumps(pod, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return None
    return namespace.encode() + b"\0" + _TOKEN_VOLUME.sub(b"kube-api-access-", data)


def row_of(
    compiled: CompiledPolicySet,
    name: str,
    pod: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    keep_pod: bool,
) -> Row:
    result = mutate(compiled, pod, namespace, namespace_labels)
    extended = PodFacts(pod, namespace).extended
    before, after = render_placement(pod), render_placement(result.pod)
    changed = before != after
    # The pools depend on nodeSelector, required terms and tolerations, which
    # `render_placement` shows (but the node-condition ones, which no pool's taint needs): an
    # unchanged placement reaches the same pools.
    reached = reach(compiled, pod, result.pod if changed else pod, extended)
    return Row(
        namespace=namespace,
        pod_name=name,
        workload=workload_of(pod),
        policies=(*result.applied, *(f"{p} (audit)" for p in result.audited)),
        before=before,
        after=after,
        reach=reached,
        why="" if changed else why_unchanged(compiled, pod, namespace, namespace_labels, result),
        declared=len(compiled.pools),
        pod=plain(result.pod, name) if keep_pod else None,
        warnings=tuple(result.warnings),
    )


def plain(value: Any, name: str = "") -> Any:
    """JSON-shaped data; YAML's timestamps become strings, and numeric keys too."""
    try:
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except orjson.JSONEncodeError as exc:  # nesting past orjson's 254 levels
        raise DocumentError(f"{name}: cannot be written as JSON: {exc}") from None


def render_table(rows: Sequence[Row], wide: bool = False) -> str:
    """Columns padded to their widest cell (in the default table, cut to `WIDTHS`); the last
    column is not padded."""
    header = WIDE_COLUMNS if wide else COLUMNS
    table = [header, *(_cut(row.cells(wide), wide) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in table
    )


def _cut(cells: tuple[str, ...], wide: bool) -> tuple[str, ...]:
    if wide:
        return cells
    return tuple(c if len(c) <= w else c[: w - 1] + CUT for c, w in zip(cells, WIDTHS, strict=True))
