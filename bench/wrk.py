"""wrk (Debian's package), the load generator: keep-alive connections, POST bodies from Lua.

wrk is C and uses a small share of a core, so on a 2-core machine the server keeps most of
the CPU; a load generator written in Python would take as much CPU as the server it measures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Sends the body in the file named by the first script argument; at the end prints one line of
# JSON with the counts and the latency percentiles (wrk measures in microseconds).
LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init(args)
  local f = assert(io.open(args[1], "rb"))
  wrk.body = f:read("*a")
  f:close()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def find_wrk(install: bool) -> tuple[str | None, str]:
    """The wrk binary, installing Debian's package when allowed (root with apt-get); else
    None and the reason, said plainly in the results."""
    found = shutil.which("wrk")
    if found:
        return found, _version(found)
    if not install:
        return None, "wrk is not installed (apt-get install wrk); HTTPS load was not measured"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, (
            "wrk is not installed and cannot be installed here (needs root and "
            "apt-get: `apt-get install wrk`); HTTPS load was not measured"
        )
    print("bench: wrk not found, installing Debian's package: apt-get install wrk", flush=True)
    _apt("update", "-qq")
    installed = _apt("install", "-y", "-qq", "wrk") == 0
    found = shutil.which("wrk")
    if not installed or not found:
        return (
            None,
            "wrk could not be installed (apt-get install wrk failed); HTTPS load was not measured",
        )
    return found, _version(found)


def _apt(*args: str) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        ["apt-get", *args],
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    return done.returncode


def _version(binary: str) -> str:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def run_wrk(
    binary: str, url: str, body_file: Path, connections: int, seconds: float, script: Path
) -> WrkResult:
    """Keep-alive load from `connections` connections on one wrk thread for `seconds`."""
    if not script.exists():
        script.write_text(LUA)
    args = [
        binary,
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",
        str(body_file),
    ]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    data = json.loads(line[len("BENCH ") :])
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=errors,
        p50_ms=data["p50"] / 1000,
        p90_ms=data["p90"] / 1000,
        p99_ms=data["p99"] / 1000,
        max_ms=data["max"] / 1000,
    )
