#!/usr/bin/env python3
"""Fail when a policy file of a directory is missing from the policy ConfigMap an overlay renders.

    python3 check_policy_configmap.py OVERLAY_DIR POLICY_DIR

kustomize's configMapGenerator lists files one by one, so a policy file added to the directory
but not to the generator passes `placement-webhook check POLICY_DIR` and never reaches the
cluster. This renders OVERLAY_DIR with `kubectl kustomize`, compares the keys of the ConfigMap
pod-placement-webhook-policies with the policy files of POLICY_DIR (the files the server would
load from it: *.yaml and *.yml, not *.test.yaml, not hidden), then runs `placement-webhook
check` on the ConfigMap's content, which is what the replicas will serve.

Needs kubectl (1.27+) and placement-webhook on PATH; only the standard library and PyYAML.
Exit 0 when both agree and the set is valid, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

CONFIG_MAP = "pod-placement-webhook-policies"
POLICY_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")


class CheckError(Exception):
    """A problem that stops the check (no rendering, no ConfigMap)."""


def policy_file_names(directory: Path) -> set[str]:
    """The files the server loads from a mounted directory (webhook.policy.load.policy_files)."""
    return {
        path.name
        for path in directory.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and path.name.endswith(POLICY_SUFFIXES)
        and not path.name.endswith(TEST_SUFFIXES)
    }


def rendered_policies(overlay: Path) -> dict[str, str]:
    """The data of the policy ConfigMap that `kubectl kustomize OVERLAY` renders."""
    kubectl = os.environ.get("KUBECTL", "kubectl")
    done = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CheckError(f"kubectl kustomize {overlay} failed: {done.stderr.strip()}")
    maps: list[dict[str, Any]] = [
        doc
        for doc in yaml.safe_load_all(done.stdout)
        if doc and doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == CONFIG_MAP
    ]
    if len(maps) != 1:
        raise CheckError(f"{overlay} renders {len(maps)} ConfigMaps named {CONFIG_MAP}, not 1")
    binary = set(maps[0].get("binaryData") or {})
    if binary:
        raise CheckError(f"not UTF-8 text, so not a policy file: {', '.join(sorted(binary))}")
    data: dict[str, str] = maps[0].get("data") or {}
    return data


def differences(data: dict[str, str], directory: Path) -> list[str]:
    on_disk = policy_file_names(directory)
    problems = [
        f"{directory / name}: not in the ConfigMap: add it to the configMapGenerator's files"
        for name in sorted(on_disk - set(data))
    ]
    problems += [
        f"{name}: in the ConfigMap but not a policy file of {directory}"
        for name in sorted(set(data) - on_disk)
    ]
    problems += [
        f"{name}: the ConfigMap's copy differs from {directory / name}"
        for name in sorted(on_disk & set(data))
        if (directory / name).read_text(encoding="utf-8") != data[name]
    ]
    return problems


def check_served_set(data: dict[str, str]) -> tuple[bool, str]:
    """`placement-webhook check` on the ConfigMap's files, laid out as the pod mounts them."""
    with tempfile.TemporaryDirectory() as mounted:
        for name, text in data.items():
            Path(mounted, name).write_text(text, encoding="utf-8")
        done = subprocess.run(
            ["placement-webhook", "check", mounted], capture_output=True, text=True, check=False
        )
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overlay", type=Path, help="a kustomization directory")
    parser.add_argument("policies", type=Path, help="the policy directory it generates from")
    args = parser.parse_args(argv)
    try:
        data = rendered_policies(args.overlay)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    problems = differences(data, args.policies)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    valid, report = check_served_set(data)
    print(report, file=sys.stdout if valid else sys.stderr)
    if problems or not valid:
        return 1
    print(f"ok: the ConfigMap holds the {len(data)} policy files of {args.policies}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
