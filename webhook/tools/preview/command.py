"""`placement-webhook preview`: read the inputs, run the set, print the table or the pods.

A malformed document stops the preview with one error line naming it; an object no pod comes
from (a Service, a custom resource, a workload without a template) is listed as skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import yaml

from webhook.engine import compile_policy_set
from webhook.errors import PolicyError
from webhook.policy import load_policy_set
from webhook.tools.preview.documents import DocumentError, Item, manifest_files, read_items
from webhook.tools.preview.report import Preview, pod_list, preview, render_table, summary

OUTPUTS = ("table", "yaml", "json")


def add_preview_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="FILE",
        help="YAML or JSON: Pods, Lists (kubectl get pods -A -o yaml), Deployments, "
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
        "--output",
        "-o",
        choices=["table", "yaml", "json"],
        default="table",
        help="a summary table (default), or the pods after the webhook as a List",
    )


def read_inputs(paths: Sequence[str], stdin: TextIO) -> list[Item]:
    """Every object of every input: `-` is standard input, a directory its manifests."""
    items: list[Item] = []
    for path in paths:
        if path == "-":
            items += read_items("<stdin>", stdin.read())
            continue
        for file in manifest_files(Path(path)):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise DocumentError(f"{file}: cannot read: {exc}") from None
            items += read_items(str(file), text)
    return items


def write_output(result: Preview, output: str, out: TextIO, err: TextIO) -> None:
    if output == "table":
        out.write(render_table(result.rows))
        out.write(summary(result) + "\n")
    elif output == "json":
        out.write(json.dumps(pod_list(result.rows), indent=2) + "\n")
    else:
        out.write(yaml.safe_dump(pod_list(result.rows), sort_keys=False))
    for skip in result.skipped:
        err.write(f"skipped: {skip.source}: {skip.reason}\n")
    for row in result.rows:
        for warning in row.warnings:
            err.write(f"warning: {row.namespace}/{row.pod_name}: {warning}\n")


def preview_command(
    inputs: Sequence[str],
    policies: Sequence[Path],
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
    output: str,
) -> int:
    """Exit 0 with the preview, 1 with one error line (a policy set or a document)."""
    try:
        compiled = compile_policy_set(load_policy_set(list(policies)))
        items = read_inputs(inputs, sys.stdin)
    except (PolicyError, DocumentError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result = preview(items, compiled, namespace, namespace_labels, datetime.now(UTC))
    write_output(result, output, sys.stdout, sys.stderr)
    return 0
