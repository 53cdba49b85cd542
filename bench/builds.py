"""This build's engine against another revision's, side by side in one run.

    .venv/bin/python -m bench.builds REV [--rounds 5]

The other revision is checked out in a temporary git worktree; each round measures, in turn, a
review of each benchmark pod on the shipped set in a fresh process of each build (this
thread's CPU time, as `bench.engine_cost` measures it), so both see the same machine. It
prints the median of each and their ratio: what a change to the review path costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PODS = ("argo-gpu", "small")
# Run in each build's tree: its own bench.pods, policies and engine.
MEASURE = """
import json, orjson
from bench import pods
from bench.engine_cost import cpu_us_per_call
from bench.policies import compiled_set
from webhook.serving.admission import handle
compiled = compiled_set(None)
out = {}
for name in %r:
    body = pods.review_body(name)
    out[name] = cpu_us_per_call(lambda: handle(compiled, body), 1.0, 5)
print(json.dumps(out))
"""


def measure(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE % (PODS,)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def compare(revision: str, rounds: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "build"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(other), revision],
            cwd=ROOT,
            check=True,
        )
        try:
            runs: dict[str, list[dict[str, float]]] = {"this": [], revision: []}
            for _ in range(rounds):
                runs[revision].append(measure(other))
                runs["this"].append(measure(ROOT))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT)
    lines = [f"| pod | {revision} (µs) | this build (µs) | ratio |", "| --- | --- | --- | --- |"]
    for pod in PODS:
        before = statistics.median(r[pod] for r in runs[revision])
        after = statistics.median(r[pod] for r in runs["this"])
        lines.append(f"| {pod} | {before:.1f} | {after:.1f} | {after / before:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the git revision to compare with (a commit, a tag)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(compare(args.revision, args.rounds))


if __name__ == "__main__":
    main()
