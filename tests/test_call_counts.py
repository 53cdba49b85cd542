"""What one review costs, pinned as a count of Python function calls: unlike time, a count does
not move with the machine, so work added to every review fails here the day it lands instead of
showing, months later, as a slower benchmark.

Counted by `python -m bench.calls` (sys.setprofile, in a fresh interpreter, logging set up as
`serve` sets it) for each benchmark pod (bench/pods.py) with the shipped policies, on a review
of its own pod after a review of another (caches warm, nothing reused).

When a change adds work on purpose (a capability that must look at every pod), or removes some,
run `.venv/bin/python -m bench.calls`, paste its lines into CALLS below and say in the commit
message what the calls pay for. bench/README.md says the same.
"""

from __future__ import annotations

from bench.calls import counted

# Python function calls of one review: (admission.handle: parse, match, mutate, patch, answer;
# serving: the handler around it, its log line and metrics).
CALLS = {
    # pod: (admission.handle, serving: the handler, its log line and metrics)
    "small": (293, 41),
    "argo-gpu": (423, 56),
    "large": (359, 41),
}


def test_a_review_of_each_benchmark_pod_makes_the_pinned_number_of_calls() -> None:
    assert counted() == CALLS, "update CALLS as this module's docstring says, if on purpose"
