"""Discovered pools written as NodePool documents: the same nodes give the same text, and each
document says in a comment what it was read from."""

from __future__ import annotations

from typing import Any

import yaml

from webhook.policy.base import API_VERSION
from webhook.tools.cluster.discover import Discovered, Discovery
from webhook.tools.cluster.fleet import Fleet


def render_nodepools(discovery: Discovery, fleet: Fleet) -> str:
    header = [
        f"# Node pools read from {fleet.describe()} by `placement-webhook pools`.",
        "# Review them, name policies' pools after them, and keep them in your policy set.",
    ]
    if discovery.ungrouped:
        header.append(f"# Not in any pool (no pool label): {_names(discovery.ungrouped)}.")
    documents = [_document(pool) for pool in discovery.pools]
    return "\n".join(header) + "\n" + "".join(f"---\n{d}" for d in documents)


def _document(pool: Discovered) -> str:
    count = len(pool.nodes)
    read = f"{count} node{'s' if count != 1 else ''}"
    if pool.template:
        read = f"its template and {read}"
    lines = [f"# {pool.name}: {pool.source}; read from {read}."]
    lines += [f"# Note: {note}." for note in pool.notes]
    spec: dict[str, Any] = {"capacityType": pool.capacity, "nodeLabels": dict(pool.labels)}
    if pool.taints:
        spec["nodeTaints"] = [_taint(t) for t in pool.taints]
    if pool.extended:
        spec["extendedResources"] = list(pool.extended)
    document = {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": pool.name, "description": pool.source[:1].upper() + pool.source[1:]},
        "spec": spec,
    }
    return "\n".join(lines) + "\n" + yaml.safe_dump(document, sort_keys=False, width=100)


def _taint(taint: tuple[str, str, str]) -> dict[str, str]:
    key, value, effect = taint
    return {"key": key, **({"value": value} if value else {}), "effect": effect}


def _names(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
