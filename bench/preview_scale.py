"""5. `placement-webhook preview` of a live cluster's dump, at 10,000 and 100,000 pods.

The dump is what `kubectl get pods -A -o json` prints for a cluster running the ML stack: the
golden pods of `tests/cases/workloads/` (each as its controller writes it), every one bound to
a node, with a status, uid, resourceVersion, creationTimestamp, a name generated from its
`generateName` (or its own name and an ordinal) and its own service-account token volume, as
the registry, the scheduler and the kubelet leave them. kubectl's JSON: four-space indents,
keys sorted. The command runs in a subprocess as a user runs it; its wall time, CPU time and
peak RSS (`wait4`'s rusage) are reported. Target: 100,000 pods in under 30 s and 1 GiB.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = REPO / "tests" / "cases" / "workloads"
SIZES = {"full": (10_000, 100_000), "quick": (1_000,)}
TARGET_SECONDS, TARGET_MIB = 30.0, 1024
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's generated-name characters
_TOKEN = re.compile(r"kube-api-access-[a-z0-9]{5}")


@dataclass(frozen=True)
class PreviewRow:
    pods: int
    dump_mib: float
    wall: float
    cpu: float
    peak_mib: float
    exit_code: int


def measure(profile: str, scratch: Path, say: Callable[[str], None]) -> list[PreviewRow]:
    rows = []
    for pods in SIZES.get(profile, SIZES["quick"]):
        dump = scratch / f"pods-{pods}.json"
        say(f"preview: writing a {pods}-pod dump")
        write_dump(dump, pods)
        say(f"preview: {pods} pods")
        rows.append(run_preview(dump, pods))
        dump.unlink()
    return rows


def write_dump(path: Path, count: int) -> None:
    """Each golden pod's JSON, written once with placeholders, then filled in per pod."""
    templates = [_template(p) for p in sorted(WORKLOADS.glob("*.in.yaml"))]
    with path.open("w") as out:
        out.write('{\n    "apiVersion": "v1",\n    "items": [')
        for index in range(count):
            text = templates[index % len(templates)]
            digest = hashlib.sha256(index.to_bytes(8, "big")).digest()
            random5 = "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:5])
            hexed = digest.hex()
            uid = f"{hexed[:8]}-{hexed[8:12]}-4000-8000-{hexed[12:24]}"
            text = (
                text.replace("@NAME@", f"{index:x}" if "@GEN@" not in text else random5)
                .replace("@GEN@", "")
                .replace("@UID@", uid)
                .replace("@TOKEN@", "".join(ALPHABET[b % len(ALPHABET)] for b in digest[5:10]))
                .replace("@NODE@", f"ip-10-{digest[10] % 64}-{digest[11]}-{digest[12]}")
                .replace("@RV@", str(100_000 + index))
            )
            out.write(("\n" if index == 0 else ",\n") + text)
        out.write('\n    ],\n    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""'
                  "\n    }\n}\n")  # fmt: skip


def _template(path: Path) -> str:
    pod: dict[str, Any] = yaml.safe_load(path.read_text())
    meta, spec = pod["metadata"], pod["spec"]
    if meta.get("generateName") and not meta.get("name"):
        meta["name"] = meta["generateName"] + "@NAME@@GEN@"
    else:
        meta["name"] = f"{meta['name']}-@NAME@"
    meta |= {"uid": "@UID@", "resourceVersion": "@RV@", "creationTimestamp": "2026-03-02T08:15:04Z"}
    spec.setdefault("nodeName", "@NODE@.ec2.internal")
    pod["status"] = {
        "phase": "Running",
        "hostIP": "10.0.11.20",
        "podIP": "10.1.2.3",
        "startTime": "2026-03-02T08:15:09Z",
        "qosClass": "Burstable",
        "conditions": [{"type": t, "status": "True", "lastProbeTime": None,
                        "lastTransitionTime": "2026-03-02T08:15:09Z"}
                       for t in ("PodReadyToStartContainers", "Initialized", "Ready",
                                 "ContainersReady", "PodScheduled")],
        "containerStatuses": [{"name": c["name"], "image": c["image"], "ready": True,
                               "restartCount": 0, "started": True,
                               "imageID": f"{c['image']}@sha256:{'0' * 64}",
                               "containerID": f"containerd://{'1' * 64}",
                               "state": {"running": {"startedAt": "2026-03-02T08:15:10Z"}}}
                              for c in spec["containers"]],
    }  # fmt: skip
    text = json.dumps(pod, indent=4, sort_keys=True, default=str)
    text = _TOKEN.sub("kube-api-access-@TOKEN@", text)
    return "\n".join("        " + line for line in text.splitlines())


def run_preview(dump: Path, pods: int) -> PreviewRow:
    command = [sys.executable, "-m", "webhook.tools.cli", "preview", str(dump)]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return PreviewRow(
        pods=pods,
        dump_mib=dump.stat().st_size / 2**20,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_mib=usage.ru_maxrss / 1024,
        exit_code=process.returncode,
    )


def append_section(path: Path, rows: list[PreviewRow]) -> None:
    """Section 5 of results.md, after the others."""
    lines = [
        "",
        "## 5. Preview of a live cluster's dump",
        "",
        (__doc__ or "").split("\n\n", 1)[1].strip().replace("\n", " "),
        "",
        "| pods | dump (MiB) | wall s | CPU s | peak RSS MiB | exit | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        target = "-"
        if row.pods == 100_000:
            met = row.wall < TARGET_SECONDS and row.peak_mib < TARGET_MIB
            target = f"{'met' if met else 'missed'}: under {TARGET_SECONDS:.0f} s and 1 GiB"
        lines.append(
            f"| {row.pods:,} | {row.dump_mib:.0f} | {row.wall:.1f} | {row.cpu:.1f} | "
            f"{row.peak_mib:.0f} | {row.exit_code} | {target} |"
        )
    with path.open("a") as out:
        out.write("\n".join(lines) + "\n")
