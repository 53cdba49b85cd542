#!/usr/bin/env python3
"""Write the alert rules of every monitoring variant from the one source, the PrometheusRule.

    python3 deploy/monitoring/generate.py          # or: make monitoring

deploy/monitoring/prometheus-rules.yaml (prometheus-operator) holds the rules, with the
comments that say why. This writes the same rule groups for the other variants:

- prometheus/pod-placement-webhook.rules.yaml: a plain Prometheus rule file (`rule_files:`);
- gke-managed-prometheus/rules.yaml: Google Cloud Managed Service for Prometheus objects.
  A `Rules` object only reads the series of its own namespace, so the groups on the webhook's
  own metrics go there; the groups on the apiserver's metrics, which come from no namespace of
  the cluster, go in a `ClusterRules` object (monitoring.googleapis.com/v1, CRDs of
  github.com/GoogleCloudPlatform/prometheus-engine, charts/operator/crds/).

`--check` writes nothing and exits 1 when a file differs from what it would write (the test
suite runs it). Standard library and PyYAML only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "prometheus-rules.yaml"
OWN_METRICS = "placement_webhook_"
GMP = "monitoring.googleapis.com/v1"
LABELS = {"app.kubernetes.io/name": "pod-placement-webhook"}
HEADER = (
    "# Generated from deploy/monitoring/prometheus-rules.yaml by `make monitoring`: edit that\n"
    "# file (it says why each rule is there), then run it.\n"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write every monitoring variant's rules.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs(yaml.safe_load(SOURCE.read_text())["spec"]["groups"]).items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
    for path in stale:
        verb = "stale" if args.check else "wrote"
        print(f"{verb}: {path.relative_to(HERE.parent.parent)}", file=sys.stderr)
    return 1 if args.check and stale else 0


def outputs(groups: list[dict[str, Any]]) -> dict[Path, str]:
    own = [g for g in groups if reads_only_own_metrics(g)]
    cluster = [g for g in groups if not reads_only_own_metrics(g)]
    gmp = [
        managed("Rules", "pod-placement-webhook", own),
        managed("ClusterRules", "pod-placement-webhook-apiserver", cluster),
    ]
    return {
        HERE / "prometheus" / "pod-placement-webhook.rules.yaml": HEADER + dump({"groups": groups}),
        HERE / "gke-managed-prometheus" / "rules.yaml": HEADER + "---\n".join(map(dump, gmp)),
    }


def reads_only_own_metrics(group: dict[str, Any]) -> bool:
    """Whether every rule of the group reads the webhook's own series, and nothing else."""
    exprs = [str(rule["expr"]) for rule in group["rules"]]
    return all(OWN_METRICS in e and "apiserver_" not in e for e in exprs)


def managed(kind: str, name: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": GMP,
        "kind": kind,
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {"groups": groups},
    }


def dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, width=100, allow_unicode=True)


if __name__ == "__main__":
    sys.exit(main())
