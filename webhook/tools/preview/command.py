"""`placement-webhook preview`: read the inputs (or the cluster's pods), run the set, print the
table or the pods.

A malformed document stops the preview with one error line naming it; an object no pod comes
from (a Service, a custom resource, a workload without a template) is listed as skipped. Pods
are read, judged and written one at a time: only the table's cells are kept.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import orjson
import yaml

from webhook.engine import compile_policy_set
from webhook.errors import PolicyError
from webhook.policy import load_policy_set
from webhook.tools.cluster.api import NAMESPACES, PODS, ClusterError
from webhook.tools.cluster.command import add_cluster_arguments, connect
from webhook.tools.inputs import DocumentError, Item, read_inputs
from webhook.tools.preview.report import LabelsOf, Row, Skip, Tally, preview, render_table

OUTPUTS = ("table", "yaml", "json")


def add_preview_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE",
        help="YAML or JSON: Pods, Lists (kubectl get pods -A -o json), Deployments, "
        "ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs; a directory; - for stdin",
    )
    parser.add_argument("--policies", action="append", default=[], metavar="PATH")
    parser.add_argument(
        "--namespace", default="default", help="for objects that name none (default: default)"
    )
    parser.add_argument(
        "--namespace-labels",
        metavar="K=V,...",
        help="labels of every namespace, for namespaceSelector clauses",
    )
    parser.add_argument(
        "--namespaces",
        metavar="FILE",
        help="Namespace objects (kubectl get namespaces -o json): each namespace's labels, for "
        "namespaceSelector clauses",
    )
    parser.add_argument(
        "--output",
        "-o",
        choices=OUTPUTS,
        default="table",
        help="a summary table (default), or the pods after the webhook as a List",
    )
    parser.add_argument(
        "--wide", action="store_true", help="the table with every cell whole, and placements"
    )
    add_cluster_arguments(parser, "the Namespaces and Pods")


def preview_command(
    args: argparse.Namespace, namespace_labels: Mapping[str, str] | None, policies: Sequence[Path]
) -> int:
    """Exit 0 with the preview, 1 with one error line (a policy set, a document, the API)."""
    if bool(args.inputs) == bool(args.cluster):
        print("error: give the files to preview, or --cluster", file=sys.stderr)
        return 2
    try:
        compiled = compile_policy_set(load_policy_set(list(policies)))
        items, labels_of = _sources(args, namespace_labels)
        rows = preview(
            items, compiled, args.namespace, labels_of, datetime.now(UTC), args.output != "table"
        )
        write_output(rows, args.output, args.wide, sys.stdout, sys.stderr)
    except (PolicyError, DocumentError, ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def _sources(
    args: argparse.Namespace, fixed: Mapping[str, str] | None
) -> tuple[Iterable[Item], LabelsOf]:
    """The objects to preview, and each namespace's labels: from the cluster, from
    --namespaces, the same --namespace-labels for all, or unknown."""
    if args.cluster:
        cluster = connect(args)
        labels = _labels_by_name(Item(f"{cluster.server}: namespace", o)
                                 for o in cluster.list(NAMESPACES))  # fmt: skip
        pods = (Item(f"{cluster.server}: pod", o) for o in cluster.list(PODS))
        return pods, labels.get
    if args.namespaces:
        labels = _labels_by_name(read_inputs([args.namespaces], sys.stdin))
        return read_inputs(args.inputs, sys.stdin), labels.get
    return read_inputs(args.inputs, sys.stdin), lambda namespace: fixed


def _labels_by_name(items: Iterable[Item]) -> dict[str, Mapping[str, str]]:
    labels: dict[str, Mapping[str, str]] = {}
    for item in items:
        if item.obj.get("kind") != "Namespace":
            continue
        meta = item.obj.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        found = meta.get("labels") if isinstance(meta, Mapping) else None
        if not isinstance(name, str) or not isinstance(found or {}, Mapping):
            raise DocumentError(f"{item.source}: a Namespace without a name, or with labels that "
                            "are not a mapping")  # fmt: skip
        labels[name] = {str(k): str(v) for k, v in (found or {}).items()}
    return labels


def write_output(
    rows: Iterable[Row | Skip], output: str, wide: bool, out: TextIO, err: TextIO
) -> None:
    tally = Tally()
    counted = _counted(rows, tally, err)
    if output == "table":
        kept = [row for row in counted if isinstance(row, Row)]
        out.write(render_table(kept, wide))
        out.write("".join(f"{line}\n" for line in tally.lines()))
        return
    out.write('{\n  "apiVersion": "v1",\n  "kind": "List",\n  "items": [' if output == "json"
              else "apiVersion: v1\nkind: List\nitems:")  # fmt: skip
    first = True
    for row in counted:
        if isinstance(row, Row) and row.pod is not None:
            out.write(_json_item(row.pod, first) if output == "json" else _yaml_item(row.pod))
            first = False
    out.write("\n  ]\n}\n" if output == "json" else (" []\n" if first else "\n"))


def _counted(rows: Iterable[Row | Skip], tally: Tally, err: TextIO) -> Iterator[Row | Skip]:
    """The rows, counted, their skips and warnings written to `err` as they go by."""
    for row in rows:
        tally.add(row)
        if isinstance(row, Skip):
            err.write(f"skipped: {row.source}: {row.reason}\n")
        else:
            for warning in row.warnings:
                err.write(f"warning: {row.namespace}/{row.pod_name}: {warning}\n")
        yield row


def _json_item(pod: object, first: bool) -> str:
    text = orjson.dumps(pod, option=orjson.OPT_INDENT_2).decode().replace("\n", "\n    ")
    return ("\n    " if first else ",\n    ") + text


def _yaml_item(pod: object) -> str:
    return "\n" + yaml.safe_dump([pod], sort_keys=False).rstrip("\n")
