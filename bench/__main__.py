"""`python -m bench` (`make bench`): the whole benchmark in one run, on this machine.

Writes results.md (with a history row per run) and PNG plots (into bench/ by default; scratch
files into bench/out/), and prints each target with its figure and verdict:
1. engine cost in process, per pod size and policy-set size, against the JSON floor;
2. the real server over HTTPS under wrk, `/mutate` against a no-op `/floor` and the raw ASGI
   floor, 1 and 2 workers;
3. a burst of 1,000 distinct reviews at concurrency 100;
4. the server's RSS, idle and under load, with the default policies and with 1,000.
`--quick` runs a small version of every part (the CI smoke test).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.run import FULL, QUICK, run

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a small run of every part")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.md and plots go")
    parser.add_argument(
        "--no-install", action="store_true", help="do not apt-get install wrk when it is missing"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    scratch = out / "out"
    scratch.mkdir(parents=True, exist_ok=True)
    run(QUICK if args.quick else FULL, out, scratch, install=not args.no_install)
    return 0


if __name__ == "__main__":
    sys.exit(main())
