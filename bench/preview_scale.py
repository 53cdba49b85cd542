"""5. `placement-webhook preview` of a live cluster's dump, at 10,000 and 100,000 pods.

The dump is what `kubectl get pods -A -o json` prints for a cluster running the ML stack: the
golden pods of `tests/cases/workloads/` (each as its controller writes it), every one bound to
a node, with a status, uid, resourceVersion, creationTimestamp, a name generated from its
`generateName` (or its own name and an ordinal) and its own service-account token volume, as
the registry, the scheduler and the kubelet leave them. kubectl's JSON: four-space indents,
keys sorted. The command runs in a subprocess as a user runs it; its wall time, CPU time and
peak RSS (the kernel's VmHWM) are reported, with the machine's load average when it started.
Target: 100,000 pods in under 30 s and 1 GiB.
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
    load: float = 0.0  # the machine's 1-minute load average when it started


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
    load = os.getloadavg()[0]
    before = os.times()
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    peak = 0
    while process.poll() is None:
        peak = max(peak, _high_water_kib(process.pid))  # VmHWM: this program's, not the fork's
        time.sleep(0.1)
    wall = time.monotonic() - started
    after = os.times()  # the child is reaped: its CPU time is counted
    cpu = after.children_user - before.children_user
    cpu += after.children_system - before.children_system
    return PreviewRow(
        pods=pods,
        dump_mib=dump.stat().st_size / 2**20,
        wall=wall,
        cpu=cpu,
        peak_mib=peak / 1024,
        exit_code=process.returncode,
        load=load,
    )


def _high_water_kib(pid: int) -> int:
    """The process's peak resident memory since it started the program (kernel: VmHWM).
    rusage's ru_maxrss would count the copy of this process it was forked from."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def append_section(path: Path, rows: list[PreviewRow]) -> None:
    """Section 5 of results.md, after the others. The target is judged on the wall time, and on
    the CPU time too: on a shared machine the wall time also counts the other work."""
    lines = [
        "",
        "## 5. Preview of a live cluster's dump",
        "",
        (__doc__ or "").split("\n\n", 1)[1].strip().replace("\n", " "),
        "",
        "| pods | dump (MiB) | wall s | CPU s | peak RSS MiB | load | exit | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        target = "-"
        if row.pods == 100_000:
            memory = row.peak_mib < TARGET_MIB
            wall = "met" if row.wall < TARGET_SECONDS and memory else "missed"
            cpu = "met" if row.cpu < TARGET_SECONDS and memory else "missed"
            target = (
                f"under {TARGET_SECONDS:.0f} s and 1 GiB: {wall} in wall time, {cpu} in CPU time"
            )
        lines.append(
            f"| {row.pods:,} | {row.dump_mib:.0f} | {row.wall:.1f} | {row.cpu:.1f} | "
            f"{row.peak_mib:.0f} | {row.load:.1f} | {row.exit_code} | {target} |"
        )
    with path.open("a") as out:
        out.write("\n".join(lines) + "\n")
