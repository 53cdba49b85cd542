"""A model cluster: one Node per declared pool, and kube-scheduler's filters to judge a pod.

`Cluster.from_policy_set` builds a node for each `kind: NodePool` document of a policy set
(`spec.nodeLabels`, `spec.nodeTaints`, `spec.capacityType`, `spec.extendedResources`), with the
labels every real node also carries (`kubernetes.io/hostname`, `kubernetes.io/os`,
`kubernetes.io/arch`, the zone and region, the instance type) and an allocatable large enough
for the biggest training pod, plus each extended resource the pool offers. More nodes, existing
pods bound to nodes and namespace labels can be added for the pod-affinity and spread cases.

`feasible(pod)` runs the Filter plugins of the default scheduler profile in its order
(`pkg/scheduler/apis/config/v1/default_plugins.go`): NodeUnschedulable, NodeName,
TaintToleration, NodeAffinity, NodeResourcesFit, PodTopologySpread, InterPodAffinity. The
volume and port plugins are not modelled (the policy sets do not speak of them). `why(pod,
node)` names the first plugin that refuses the node, with upstream's reason.

It reads the policy YAML itself and imports nothing of the webhook: it is an oracle to hold the
engine against, written from the scheduler's source.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.cluster_model.node_affinity import node_affinity_filter, node_name_filter
from tests.cluster_model.pod_affinity import affinity_filter, affinity_prefilter
from tests.cluster_model.resources import allocatable_of, pod_requests, resources_fit_filter
from tests.cluster_model.spread import spread_filter, spread_prefilter
from tests.cluster_model.taints import taint_toleration_filter, unschedulable_filter

Doc = Mapping[str, Any]
Check = Callable[["Node"], str | None]

# Big enough for an 8-GPU training pod (90 cpu, 1000Gi in tests/cases/workloads/jobset-pod).
DEFAULT_ALLOCATABLE = {"cpu": "192", "memory": "2048Gi", "ephemeral-storage": "1Ti", "pods": "110"}
EXTENDED_PER_NODE = "8"
REGION, ZONE = "region-1", "region-1a"
POLICY_SUFFIXES, TEST_SUFFIXES = (".yaml", ".yml"), (".test.yaml", ".test.yml")


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str]
    taints: tuple[Doc, ...] = ()
    allocatable: Mapping[str, int] = field(default_factory=dict)  # milli-cpu, units otherwise
    unschedulable: bool = False
    pool: str | None = None
    spot: bool = False


class Cluster:
    def __init__(self, nodes: Iterable[Node] = ()) -> None:
        self.nodes: list[Node] = list(nodes)
        self.pods: list[Doc] = []
        self.namespaces: dict[str, Mapping[str, str]] = {}
        self.pool_docs: dict[str, Doc] = {}

    @classmethod
    def from_policy_set(cls, source: Any) -> Cluster:
        """From a policy directory or file, a loaded set (its `pools`), or documents."""
        cluster = cls()
        for doc in node_pool_documents(source):
            name = doc["metadata"]["name"]
            cluster.pool_docs[name] = doc
            cluster.add_node(f"{name}-node", pool=name)
        return cluster

    # --- building ------------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        pool: str | None = None,
        labels: Mapping[str, str] | None = None,
        taints: Iterable[Doc] | None = None,
        allocatable: Mapping[str, Any] | None = None,
        unschedulable: bool = False,
    ) -> Cluster:
        """A node; with `pool`, a node of that declared pool (its labels, taints, capacity
        type and extended resources), `labels` added on top."""
        spec = (self.pool_docs[pool]["spec"] or {}) if pool else {}
        offered = list(spec.get("extendedResources") or [])
        node_labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/region": REGION,
            "topology.kubernetes.io/zone": ZONE,
            "node.kubernetes.io/instance-type": "accelerated-8" if offered else "standard-192",
            **(spec.get("nodeLabels") or {}),
            **(labels or {}),
        }
        quantities = allocatable or {
            **DEFAULT_ALLOCATABLE,
            **dict.fromkeys(offered, EXTENDED_PER_NODE),
        }
        self.nodes.append(
            Node(
                name=name,
                labels=node_labels,
                taints=tuple(
                    {"key": t["key"], "value": t.get("value") or "", "effect": t["effect"]}
                    for t in [*(spec.get("nodeTaints") or ()), *(taints or ())]
                ),
                allocatable=allocatable_of(quantities),
                unschedulable=unschedulable,
                pool=pool,
                spot=spec.get("capacityType") == "spot",
            )
        )
        return self

    def add_pod(self, pod: Doc, node: str) -> Cluster:
        """An existing pod, bound to `node` (namespace `default` unless it says otherwise)."""
        bound = copy.deepcopy(dict(pod))
        bound.setdefault("metadata", {}).setdefault("namespace", "default")
        bound.setdefault("spec", {})["nodeName"] = node
        self.pods.append(bound)
        return self

    def add_namespace(self, name: str, labels: Mapping[str, str]) -> Cluster:
        self.namespaces[name] = dict(labels)
        return self

    # --- judging -------------------------------------------------------------------------

    def feasible(
        self, pod: Doc, namespace: str | None = None, skip: Iterable[str] = ()
    ) -> list[str]:
        """The names of the nodes every filter admits the pod to, in the cluster's order.
        `skip` leaves plugins out by name (e.g. `{"TaintToleration"}`)."""
        checks = self._checks(pod, namespace, set(skip))
        return [n.name for n in self.nodes if _first_refusal(checks, n) is None]

    def why(
        self, pod: Doc, node: str, namespace: str | None = None, skip: Iterable[str] = ()
    ) -> str | None:
        """`Plugin: reason` of the first filter refusing `node`, or None when it fits."""
        return _first_refusal(self._checks(pod, namespace, set(skip)), self.node(node))

    def pools_for(
        self, pod: Doc, namespace: str | None = None, skip: Iterable[str] = ()
    ) -> list[str]:
        """The declared pools with a node the pod can run on."""
        fits = set(self.feasible(pod, namespace, skip))
        pools = [n.pool for n in self.nodes if n.name in fits and n.pool is not None]
        return list(dict.fromkeys(pools))

    def spot_only(self, pod: Doc, namespace: str | None = None) -> bool:
        """The pod can run, and only on spot nodes."""
        fits = [n for n in self.nodes if n.name in set(self.feasible(pod, namespace))]
        return bool(fits) and all(n.spot for n in fits)

    def reaches_spot(self, pod: Doc, namespace: str | None = None) -> bool:
        """Some spot node admits the pod."""
        fits = set(self.feasible(pod, namespace))
        return any(n.spot for n in self.nodes if n.name in fits)

    def node(self, name: str) -> Node:
        found = [n for n in self.nodes if n.name == name]
        if not found:
            raise KeyError(f"no node {name!r} in the model cluster")
        return found[0]

    def _checks(self, pod: Doc, namespace: str | None, skip: set[str]) -> list[tuple[str, Check]]:
        """Each plugin's filter for this pod, PreFilter state computed once."""
        pod = _in_namespace(pod, namespace)
        ns = pod["metadata"]["namespace"]
        pods_on: dict[str, list[Doc]] = {}
        for existing in self.pods:
            pods_on.setdefault(existing["spec"]["nodeName"], []).append(existing)
        requests = pod_requests(pod)
        spread = spread_prefilter(pod, ns, self.nodes, pods_on)
        affinity = affinity_prefilter(pod, self.nodes, pods_on, self.namespaces)
        checks: list[tuple[str, Check]] = [
            ("NodeUnschedulable", lambda n: unschedulable_filter(pod, n.unschedulable)),
            ("NodeName", lambda n: node_name_filter(pod, n.name)),
            ("TaintToleration", lambda n: taint_toleration_filter(pod, n.taints)),
            ("NodeAffinity", lambda n: node_affinity_filter(pod, n.labels, n.name)),
            (
                "NodeResourcesFit",
                lambda n: resources_fit_filter(
                    requests, n.allocatable, [pod_requests(p) for p in pods_on.get(n.name, [])]
                ),
            ),
            ("PodTopologySpread", lambda n: spread_filter(spread, pod, n.labels)),
            ("InterPodAffinity", lambda n: affinity_filter(affinity, n.labels)),
        ]
        return [(name, check) for name, check in checks if name not in skip]


def _first_refusal(checks: list[tuple[str, Check]], node: Node) -> str | None:
    for plugin, check in checks:
        reason = check(node)
        if reason is not None:
            return f"{plugin}: {reason}"
    return None


def _in_namespace(pod: Doc, namespace: str | None) -> dict[str, Any]:
    out = copy.deepcopy(dict(pod))
    metadata = out.setdefault("metadata", {})
    metadata["namespace"] = namespace or metadata.get("namespace") or "default"
    return out


def node_pool_documents(source: Any) -> list[Doc]:
    """The NodePool documents of a policy directory or file, of a loaded policy set (an object
    whose `pools` maps names to pydantic models), or of an iterable of documents."""
    if isinstance(source, str | Path):
        root = Path(source)
        files = [root] if root.is_file() else sorted(root.iterdir())
        docs: list[Any] = []
        for path in files:
            name = path.name
            if name.startswith(".") or not name.endswith(POLICY_SUFFIXES):
                continue
            if name.endswith(TEST_SUFFIXES) or not path.is_file():
                continue
            docs += yaml.safe_load_all(path.read_text(encoding="utf-8"))
    elif isinstance(getattr(source, "pools", None), Mapping):
        docs = [p.model_dump(by_alias=True, mode="json") for p in source.pools.values()]
    elif isinstance(source, Iterable):
        docs = list(source)
    else:
        raise TypeError(f"not a policy path, loaded policy set or documents: {source!r}")
    return [d for d in docs if isinstance(d, Mapping) and d.get("kind") == "NodePool"]
