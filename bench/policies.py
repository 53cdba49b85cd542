"""Policy sets for the benchmark: the shipped defaults, and larger generated sets.

A generated set of N policies is the shipped defaults plus N - len(defaults) policies written
as PlacementPolicy YAML and read by the real loader. Like a real cluster's, most of them do not
match a given pod: per-team namespaces (each team on a NodePool of its own), namespace globs,
pod label selectors on many keys, workload and annotation clauses; about one in a hundred
matches the benchmark pods. Every generated set passes the placement proof, as the server
requires.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from webhook.engine import CompiledPolicySet, compile_policy_set
from webhook.policy.load import load_policy_set, parse_policy_set, policy_files
from webhook.tools.cli import default_policies

HEADER = "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"


def _team_namespace(i: int) -> str:
    names = f"[team-{i}, team-{i}-dev]" if i % 3 == 0 else f"[team-{i}]"
    return f"""metadata: {{name: team-{i}-pool}}
spec:
  match: {{namespaces: {names}, placement: none, extendedResources: false}}
  add:
    pool: team-{i}
"""


def team_pool(i: int) -> str:
    """The NodePool of a team policy: on-demand, tainted for the team."""
    return f"""apiVersion: pod-placement-webhook/v1
kind: NodePool
metadata: {{name: team-{i}}}
spec:
  capacityType: on-demand
  nodeLabels: {{example.com/pool: team-{i}}}
  nodeTaints: [{{key: dedicated, value: team-{i}, effect: NoSchedule}}]
"""


def _namespace_glob(i: int) -> str:
    return f"""metadata: {{name: project-{i}-cost-center}}
spec:
  match: {{namespaces: ["proj-{i}-*", "sandbox-{i}-?"]}}
  add:
    labels: {{example.com/cost-center: cc-{i}}}
"""


def _app_label(i: int) -> str:
    return f"""metadata: {{name: app-svc-{i}-on-demand}}
spec:
  match:
    podSelector: {{matchLabels: {{app: svc-{i}}}}}
    excludeNamespaces: [kube-system, "ci-*"]
    extendedResources: false
  add:
    nodeAffinity:
      required: [{{key: ng-name, operator: In, values: [ondemand]}}]
    annotations: {{example.com/routed-by: app-svc-{i}}}
"""


def _pool_label(i: int) -> str:
    return f"""metadata: {{name: pool-label-{i}}}
spec:
  order: {200 + i % 50}
  match:
    podSelector:
      matchExpressions:
        - {{key: example.com/pool-{i % 40}, operator: Exists}}
        - {{key: example.com/tier, operator: In, values: [gold, silver]}}
  add:
    tolerations: [{{key: example.com/pool-{i % 40}, operator: Exists, effect: NoSchedule}}]
"""


def _workload_annotation(i: int) -> str:
    kinds = ["spark", "ray", "notebook", "jupyterhub"][i % 4]
    return f"""metadata: {{name: {kinds}-tuning-{i}}}
spec:
  order: {300 + i % 50}
  match:
    workloads: [{kinds}]
    annotationSelector: {{matchLabels: {{example.com/profile: p{i}}}}}
    excludeNamespaces: [kube-system]
  add:
    dnsConfig:
      options: [{{name: ndots, value: "2"}}]
"""


def _matching(i: int) -> str:
    return f"""metadata: {{name: ml-audit-trail-{i}}}
spec:
  order: {400 + i % 50}
  match: {{namespaces: ["ml-*"]}}
  add:
    annotations: {{example.com/reviewed-{i}: "true"}}
"""


_KINDS: list[Callable[[int], str]] = [
    _team_namespace,
    _team_namespace,
    _team_namespace,
    _team_namespace,
    _team_namespace,
    _team_namespace,
    _namespace_glob,
    _app_label,
    _pool_label,
    _workload_annotation,
]


def generated_policy(i: int) -> str:
    """The i-th generated policy document (YAML)."""
    body = _matching(i) if i % 100 == 99 else _KINDS[i % len(_KINDS)](i)
    return HEADER + body


def default_sources() -> list[tuple[str, bytes]]:
    return [(str(p), p.read_bytes()) for p in policy_files(default_policies())]


def shipped_count() -> int:
    return len(load_policy_set(default_policies()).policies)


def generated_yaml(total: int) -> bytes:
    """Enough generated policies to make `total` together with the shipped ones, and the node
    pools they place pods on."""
    count = max(total - shipped_count(), 0)
    documents = [generated_policy(i) for i in range(count)]
    documents += [
        team_pool(i)
        for i in range(count)
        if _KINDS[i % len(_KINDS)] is _team_namespace and i % 100 != 99
    ]
    return "---\n".join(documents).encode()


def compiled_set(total: int | None) -> CompiledPolicySet:
    """The shipped set (total None) or a generated set of `total` policies, compiled."""
    sources = default_sources()
    if total is not None:
        sources.append(("generated.yaml", generated_yaml(total)))
    return compile_policy_set(parse_policy_set(sources))


def write_policy_dir(directory: Path, total: int | None) -> Path:
    """The same set as files, for a server to load with --policies; what an earlier run left
    in `directory` is removed first (a renamed shipped file would otherwise load twice)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, data in default_sources():
        (directory / Path(name).name).write_bytes(data)
    if total is not None:
        (directory / "generated.yaml").write_bytes(generated_yaml(total))
    return directory
