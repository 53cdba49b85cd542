"""The worst shapes a pod author can send: what one review costs as the pod grows.

Any user allowed to create pods can send thousands of distinct extended resource names,
nodeSelector keys (with `mirrorNodeSelector`), ORed nodeSelectorTerms or containers. Each
review must cost time linear in the pod's size: the table gives the cost at two sizes per
shape and their ratio against the ratio of the sizes. The bodies go up to the 3 MiB the
server reads (webhook/serving/limits.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import pods
from bench.engine_cost import cpu_us_per_call
from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.policy.load import parse_policy_set
from webhook.serving.admission import handle
from webhook.tools.cli import default_policies

NAMESPACE = pods.NAMESPACE
Pod = dict[str, Any]

# Beside the shipped set: a policy that mirrors the nodeSelector into required node affinity
# and adds a required expression, so every term and every selector key is worked on. It runs
# last: run first, it would give every pod a placement of its own, and the shipped set would
# then keep no pod off spot (the placement proof refuses that).
MIRROR = """apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: zone-everywhere}
spec:
  order: 1000
  add:
    mirrorNodeSelector: true
    nodeAffinity:
      required: [{key: example.com/zone, operator: In, values: [a, b]}]
"""


def write_policies(directory: Path) -> Path:
    """The shipped policy files and MIRROR, as files for a server."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in _shipped_files():
        (directory / path.name).write_bytes(path.read_bytes())
    (directory / "50-zone-everywhere.yaml").write_text(MIRROR)
    return directory


def _shipped_files() -> list[Path]:
    root = default_policies()
    return sorted(p for p in root.glob("*.yaml") if not p.name.endswith(".test.yaml"))


def policy_set() -> CompiledPolicySet:
    sources = [(str(p), p.read_bytes()) for p in _shipped_files()]
    sources.append(("zone-everywhere.yaml", MIRROR.encode()))
    return compile_policy_set(parse_policy_set(sources))


def extended_resources_pod(n: int) -> Pod:
    """An Argo GPU step whose main container requests n distinct extended resources."""
    pod = pods.argo_gpu_pod()
    wanted = {f"example.com/r{i}": "1" for i in range(n)}
    pod["spec"]["containers"][1]["resources"] = {"requests": dict(wanted), "limits": wanted}
    return pod


def selector_pod(n: int) -> Pod:
    pod = pods.small_pod()
    pod["spec"]["nodeSelector"] = {f"example.com/k{i}": "v" for i in range(n)}
    return pod


def terms_pod(n: int) -> Pod:
    pod = pods.small_pod()
    terms = [
        {"matchExpressions": [{"key": f"example.com/t{i}", "operator": "In", "values": ["x"]}]}
        for i in range(n)
    ]
    required = {"nodeSelectorTerms": terms}
    pod["spec"]["affinity"] = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}
    }
    return pod


def containers_pod(n: int) -> Pod:
    pod = pods.argo_gpu_pod()
    main = pod["spec"]["containers"][1]
    pod["spec"]["containers"] = [dict(copy.deepcopy(main), name=f"c{i}") for i in range(n)]
    return pod


def env_pod(n: int) -> Pod:
    """The usual bulk of a big pod: environment variables (n of them, 100-byte values)."""
    pod = pods.argo_gpu_pod()
    pod["spec"]["containers"][1]["env"] = [{"name": f"E{i}", "value": "x" * 100} for i in range(n)]
    return pod


def labels_pod(n: int) -> Pod:
    """A pod with n labels: what every label selector of every policy reads."""
    pod = pods.small_pod()
    pod["metadata"]["labels"] = {f"example.com/l{i}": "v" for i in range(n)}
    return pod


def _required_terms(pod: Mapping[str, Any]) -> list[Any]:
    node = pod["spec"]["affinity"]["nodeAffinity"]
    terms: list[Any] = node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return terms


def _check_resources(before: Pod, after: Pod, n: int) -> None:
    keys = {t.get("key") for t in after["spec"]["tolerations"]}
    assert {f"example.com/r{i}" for i in range(n)} <= keys


def _check_selector(before: Pod, after: Pod, n: int) -> None:
    (term,) = _required_terms(after)
    keys = {e["key"] for e in term["matchExpressions"]}
    assert {f"example.com/k{i}" for i in range(n)} <= keys


def _check_terms(before: Pod, after: Pod, n: int) -> None:
    terms = _required_terms(after)
    assert len(terms) == n
    for i, term in enumerate(terms):
        keys = [e["key"] for e in term["matchExpressions"]]
        assert keys[0] == f"example.com/t{i}" and "example.com/zone" in keys


def _check_containers(before: Pod, after: Pod, n: int) -> None:
    assert len(after["spec"]["containers"]) == n
    assert any(t.get("key") == "nvidia.com/gpu" for t in after["spec"]["tolerations"])


@dataclass(frozen=True)
class Shape:
    name: str
    make: Callable[[int], Pod]
    check: Callable[[Pod, Pod, int], None]  # what the policies must have added (tests)
    sizes: tuple[int, int]  # the two sizes measured: the first, and four times as many


SHAPES = [
    Shape("distinct extended resources", extended_resources_pod, _check_resources, (2000, 8000)),
    Shape("nodeSelector keys", selector_pod, _check_selector, (2000, 8000)),
    Shape("ORed nodeSelectorTerms", terms_pod, _check_terms, (2000, 8000)),
    Shape("containers", containers_pod, _check_containers, (250, 1000)),
]
# The most of each that fits the 3 MiB body limit.
AT_THE_LIMIT = {
    "environment variables (3 MiB)": (env_pod, 24_000),
    "distinct extended resources (3 MiB)": (extended_resources_pod, 60_000),
    "ORed nodeSelectorTerms (3 MiB)": (terms_pod, 36_000),
    "labels (3 MiB)": (labels_pod, 100_000),
}


@dataclass(frozen=True)
class WorstRow:
    shape: str
    n: int
    body_bytes: int
    ms: float


def body_of(pod: Pod) -> bytes:
    return orjson.dumps(pods.review(pod))


def measure(seconds: float, repeats: int) -> list[WorstRow]:
    """CPU time of `admission.handle` per shape and size (best of `repeats`)."""
    policies = policy_set()
    cases = [(s.name, s.make, n) for s in SHAPES for n in s.sizes]
    cases += [(name, make, n) for name, (make, n) in AT_THE_LIMIT.items()]
    rows = []
    for name, make, n in cases:
        body = body_of(make(n))
        us = cpu_us_per_call(lambda b=body: handle(policies, b), seconds, repeats)
        rows.append(WorstRow(name, n, len(body), us / 1000))
    return rows
