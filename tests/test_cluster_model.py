"""The model cluster (tests/cluster_model) held to kube-scheduler's own test tables.

Each row is a case of an upstream test, cited by file and test name (paths under
kubernetes/kubernetes; `plugins/` is pkg/scheduler/framework/plugins), with its node and pod
written out; rows marked "here:" are the edges this project relies on, each stated from the
upstream function it follows. Every row runs through the whole model (`Cluster.why` on a
cluster of explicit nodes), so a row also proves that no other filter gets in the way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cluster_model import Cluster
from webhook.policy import load_policy_set

Doc = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
SETS = [REPO / "policies", *sorted((REPO / "policies" / "examples").iterdir())]
BIG = {"cpu": "64", "memory": "256Gi", "pods": "110"}
NO_AFFINITY = "NodeAffinity: node(s) didn't match Pod's node affinity/selector"

# --- builders ------------------------------------------------------------------------------


def pod(
    labels: dict[str, str] | None = None,
    namespace: str = "default",
    containers: list[Doc] | None = None,
    **spec: Any,
) -> Doc:
    body: Doc = {"containers": containers or [{"name": "main", "image": "i"}], **spec}
    metadata: Doc = {"name": "p", "namespace": namespace, "labels": labels or {}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


def required(*terms: Doc) -> Doc:
    """An affinity with these required nodeSelectorTerms."""
    selector = {"nodeSelectorTerms": list(terms)}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": selector}}


def exprs(*expressions: Doc) -> Doc:
    return {"matchExpressions": list(expressions)}


def e(key: str, operator: str, *values: str) -> Doc:
    return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}


def name_is(*names: str) -> Doc:
    return {"key": "metadata.name", "operator": "In", "values": list(names)}


def cluster_of(*nodes: tuple[str, dict[str, str]], taints: list[Doc] | None = None) -> Cluster:
    cluster = Cluster()
    for name, labels in nodes:
        cluster.add_node(name, labels=labels, taints=taints, allocatable=BIG)
    return cluster


# --- NodeAffinity ---------------------------------------------------------------------------

# Sources of the rows:
# TEST_NODE_AFFINITY: plugins/nodeaffinity/node_affinity_test.go TestNodeAffinity
# MATCH_TERMS: staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/
#   nodeaffinity_test.go TestPodMatchesNodeSelectorAndAffinityTerms
# SELECTOR_MATCH: the same file, TestNodeSelectorMatch
FOO_BAR = {"foo": "bar"}

# (id, pod spec, node labels, node name, fits); cited per row.
NODE_AFFINITY_ROWS: list[tuple[str, Doc, dict[str, str], str, bool]] = [
    # TEST_NODE_AFFINITY "missing labels", "same labels", "node labels are superset/subset"
    ("nodeSelector on a node without the label", {"nodeSelector": FOO_BAR}, {}, "n", False),
    ("nodeSelector on a node with the label", {"nodeSelector": FOO_BAR}, FOO_BAR, "n", True),
    ("node labels a superset", {"nodeSelector": FOO_BAR}, {**FOO_BAR, "baz": "blah"}, "n", True),
    ("node labels a subset", {"nodeSelector": {**FOO_BAR, "baz": "blah"}}, FOO_BAR, "n", False),
    # TEST_NODE_AFFINITY "...using In / Gt / NotIn / Exists operator that matches..."
    ("In matches", {"affinity": required(exprs(e("foo", "In", "bar", "value2")))}, FOO_BAR,
     "n", True),
    ("Gt compares as integers", {"affinity": required(exprs(e("kernel-version", "Gt", "0204")))},
     {"kernel-version": "0206"}, "n", True),
    ("NotIn matches", {"affinity": required(exprs(e("mem-type", "NotIn", "DDR", "DDR2")))},
     {"mem-type": "DDR3"}, "n", True),
    ("Exists matches", {"affinity": required(exprs(e("GPU", "Exists")))},
     {"GPU": "NVIDIA-GRID-K1"}, "n", True),
    # TEST_NODE_AFFINITY "Pod with affinity that don't match node's labels won't schedule..."
    ("In does not match", {"affinity": required(exprs(e("foo", "In", "value1", "value2")))},
     FOO_BAR, "n", False),
    # TEST_NODE_AFFINITY "Pod with empty MatchExpressions is not a valid value will match no
    # objects"
    ("a term with empty matchExpressions", {"affinity": required({"matchExpressions": []})},
     FOO_BAR, "n", False),
    # TEST_NODE_AFFINITY "Pod with no Affinity", "Pod with Affinity but nil NodeSelector"
    ("no affinity", {}, FOO_BAR, "n", True),
    ("affinity without a required selector", {"affinity": {"nodeAffinity": {}}}, FOO_BAR, "n",
     True),
    # TEST_NODE_AFFINITY "...multiple matchExpressions ANDed that matches / doesn't match..."
    ("expressions ANDed, all hold",
     {"affinity": required(exprs(e("GPU", "Exists"), e("GPU", "NotIn", "AMD", "INTER")))},
     {"GPU": "NVIDIA-GRID-K1"}, "n", True),
    ("expressions ANDed, one fails",
     {"affinity": required(exprs(e("GPU", "Exists"), e("GPU", "In", "AMD", "INTER")))},
     {"GPU": "NVIDIA-GRID-K1"}, "n", False),
    # TEST_NODE_AFFINITY "...multiple NodeSelectorTerms ORed in affinity, matches..."
    ("terms ORed",
     {"affinity": required(exprs(e("foo", "In", "bar", "value2")),
                           exprs(e("diffkey", "In", "wrong", "value2")))},
     FOO_BAR, "n", True),
    # TEST_NODE_AFFINITY "...an Affinity and a PodSpec.NodeSelector ... both are satisfied" and
    # "...the PodSpec.NodeSelector ... is not satisfied"
    ("nodeSelector and affinity both hold",
     {"nodeSelector": FOO_BAR, "affinity": required(exprs(e("foo", "Exists")))}, FOO_BAR, "n",
     True),
    ("affinity holds, nodeSelector does not",
     {"nodeSelector": FOO_BAR, "affinity": required(exprs(e("foo", "Exists")))},
     {"foo": "barrrrrr"}, "n", False),
    # TEST_NODE_AFFINITY "Pod with an invalid value in Affinity term won't be scheduled"
    ("an invalid label value in a term",
     {"affinity": required(exprs(e("foo", "NotIn", "invalid value: ___@#$%^")))}, FOO_BAR,
     "n", False),
    # TEST_NODE_AFFINITY "...matchFields using In operator that matches / does not match..."
    ("matchFields pins this node", {"affinity": required({"matchFields": [name_is("node1")]})},
     {}, "node1", True),
    ("matchFields pins another node",
     {"affinity": required({"matchFields": [name_is("node1")]})}, {}, "node2", False),
    # TEST_NODE_AFFINITY "Pod with two terms: matchFields does not match, but matchExpressions
    # matches", "Pod with one term: ...", "...both match", "...both do not match"
    ("two terms: the expressions term matches",
     {"affinity": required({"matchFields": [name_is("node1"), name_is("node2")]},
                           exprs(e("foo", "In", "bar")))},
     FOO_BAR, "node2", True),
    ("one term: fields fail, expressions match",
     {"affinity": required({"matchFields": [name_is("node1")],
                            "matchExpressions": [e("foo", "In", "bar")]})},
     FOO_BAR, "node2", False),
    ("one term: fields and expressions match",
     {"affinity": required({"matchFields": [name_is("node1")],
                            "matchExpressions": [e("foo", "In", "bar")]})},
     FOO_BAR, "node1", True),
    ("two terms: neither matches",
     {"affinity": required({"matchFields": [name_is("node1")]},
                           exprs(e("foo", "In", "not-match-to-bar")))},
     FOO_BAR, "node2", False),
    # TEST_NODE_AFFINITY "Pod with two terms of node.Name affinity"
    ("two name-pin terms ORed",
     {"affinity": required({"matchFields": [name_is("node1")]},
                           {"matchFields": [name_is("node2")]})},
     {}, "node2", True),
    # MATCH_TERMS "...a nil []NodeSelectorTerm..." and "...an empty []NodeSelectorTerm..."
    ("nodeSelectorTerms missing", {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {}}}}, FOO_BAR, "n", False),
    ("nodeSelectorTerms: [] matches nothing", {"affinity": required()}, FOO_BAR, "n", False),
    # here: isEmptyNodeSelectorTerm drops `{}`, leaving no term (kube-apiserver admits `[{}]`)
    ("nodeSelectorTerms: [{}] matches nothing", {"affinity": required({})}, FOO_BAR, "n", False),
    ("an empty term beside a matching one", {"affinity": required({}, exprs(e("foo", "Exists")))},
     FOO_BAR, "n", True),
    # SELECTOR_MATCH "node matches field selector, but not labels", "...and label selector",
    # "second term matches"
    ("field matches, labels do not",
     {"affinity": required({"matchExpressions": [e("label_1", "In", "label_1_val")],
                            "matchFields": [name_is("host_1")]})},
     {}, "host_1", False),
    ("field and labels match",
     {"affinity": required({"matchExpressions": [e("label_1", "In", "label_1_val")],
                            "matchFields": [name_is("host_1")]})},
     {"label_1": "label_1_val"}, "host_1", True),
    ("the second term matches by field",
     {"affinity": required(exprs(e("label_1", "In", "label_1_val")),
                           {"matchFields": [name_is("host_1")]})},
     {}, "host_1", True),
    # SELECTOR_MATCH "invalid field selector and label selector": NewNodeSelector refuses the
    # set, but Filter uses LazyErrorNodeSelector, where the broken terms just never match.
    ("broken terms beside a valid one",
     {"affinity": required(
         {"matchFields": [name_is("host_1", "host_2")]},
         {"matchExpressions": [e("label_1", "In", "label_1_val")],
          "matchFields": [name_is("host_1")]},
         exprs(e("invalid key", "In", "label_value")))},
     {"label_1": "label_1_val"}, "host_1", True),
    ("a matchFields In with two values matches nothing",
     {"affinity": required({"matchFields": [name_is("host_1", "host_2")]})}, {}, "host_1",
     False),
    # here: labels.NewRequirement (selector.go) refuses a Gt/Lt value strconv.ParseInt cannot
    # read, and any value that is not a label value (a sign), so the term matches nothing.
    ("Gt with a value that is not an integer",
     {"affinity": required(exprs(e("cores", "Gt", "four")))}, {"cores": "8"}, "n", False),
    ("Gt with a decimal value", {"affinity": required(exprs(e("cores", "Gt", "1.5")))},
     {"cores": "8"}, "n", False),
    ("Gt with an underscore", {"affinity": required(exprs(e("cores", "Gt", "1_0")))},
     {"cores": "80"}, "n", False),
    ("Gt with a sign", {"affinity": required(exprs(e("cores", "Gt", "+4")))}, {"cores": "8"},
     "n", False),
    ("Gt with leading zeros", {"affinity": required(exprs(e("cores", "Gt", "04")))},
     {"cores": "8"}, "n", True),
    ("Gt with two values", {"affinity": required(exprs(e("cores", "Gt", "1", "2")))},
     {"cores": "8"}, "n", False),
    ("Lt on a label that is not an integer",
     {"affinity": required(exprs(e("cores", "Lt", "9")))}, {"cores": "eight"}, "n", False),
    ("an unparsable term beside a matching one",
     {"affinity": required(exprs(e("cores", "Gt", "four")), exprs(e("foo", "Exists")))},
     FOO_BAR, "n", True),
    ("an unknown operator", {"affinity": required(exprs(e("foo", "Equals", "bar")))}, FOO_BAR,
     "n", False),
    ("Exists with values", {"affinity": required(exprs(e("foo", "Exists", "bar")))}, FOO_BAR,
     "n", False),
    ("In without values", {"affinity": required(exprs(e("foo", "In")))}, FOO_BAR, "n", False),
    # here: the well-known label every node carries pins a pod to one node
    ("a required kubernetes.io/hostname term on its node",
     {"affinity": required(exprs(e("kubernetes.io/hostname", "In", "node1")))}, {}, "node1",
     True),
    ("a required kubernetes.io/hostname term elsewhere",
     {"affinity": required(exprs(e("kubernetes.io/hostname", "In", "node1")))}, {}, "node2",
     False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "labels", "node", "fits"),
    [pytest.param(*row[1:], id=row[0]) for row in NODE_AFFINITY_ROWS],
)
def test_node_affinity(spec: Doc, labels: dict[str, str], node: str, fits: bool) -> None:
    cluster = cluster_of((node, labels))
    assert cluster.why(pod(**spec), node) == (None if fits else NO_AFFINITY)


def test_name_pins_that_conflict_refuse_every_node() -> None:
    # TEST_NODE_AFFINITY "Pod with two conflicting mach field requirements": PreFilter's
    # errReasonConflict.
    spec = {"affinity": required({"matchFields": [name_is("node1"), name_is("node2")]})}
    cluster = cluster_of(("node1", {}), ("node2", {}))
    assert cluster.feasible(pod(**spec)) == []
    assert cluster.why(pod(**spec), "node2") == "NodeAffinity: pod affinity terms conflict"


def test_a_node_name_pins_the_node() -> None:
    # plugins/nodename/node_name_test.go TestNodeName: "pod with a different node name".
    cluster = cluster_of(("node1", {}), ("node2", {}))
    assert cluster.feasible(pod(nodeName="node1")) == ["node1"]
    assert cluster.why(pod(nodeName="node1"), "node2") == (
        "NodeName: node(s) didn't match the requested node name"
    )


# --- TaintToleration and NodeUnschedulable ------------------------------------------------

# TAINT_FILTER: plugins/tainttoleration/taint_toleration_test.go TestTaintTolerationFilter
# TOLERATES: staging/src/k8s.io/api/core/v1/toleration.go ToleratesTaint
DEDICATED_USER1 = {"key": "dedicated", "value": "user1", "effect": "NoSchedule"}
FOO_BAR_NOSCHEDULE = {"key": "foo", "value": "bar", "effect": "NoSchedule"}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}


def untolerated(taint: Doc) -> str:
    return f"TaintToleration: node(s) had untolerated taint {{{taint['key']}: {taint['value']}}}"


# (id, tolerations, taints, refusal or None)
TAINT_ROWS: list[tuple[str, list[Doc], list[Doc], str | None]] = [
    # TAINT_FILTER "A pod having no tolerations can't be scheduled onto a node with nonempty
    # taints"
    ("no tolerations, a NoSchedule taint", [], [DEDICATED_USER1], untolerated(DEDICATED_USER1)),
    # TAINT_FILTER "...dedicated node assigned to user1 with effect NoSchedule" (no operator)
    ("an equal toleration without operator", [DEDICATED_USER1], [DEDICATED_USER1], None),
    # TAINT_FILTER "...can't be scheduled on a dedicated node assigned to user2..."
    ("right key, wrong value",
     [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}],
     [DEDICATED_USER1], untolerated(DEDICATED_USER1)),
    # TAINT_FILTER "...a toleration uses operator Exists that tolerates the taints on the node"
    ("Exists tolerates any value", [{"key": "foo", "operator": "Exists", "effect": "NoSchedule"}],
     [FOO_BAR_NOSCHEDULE], None),
    # TAINT_FILTER "A pod has multiple tolerations, node has multiple taints, all the taints are
    # tolerated"
    ("every taint tolerated",
     [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"},
      {"key": "foo", "operator": "Exists", "effect": "NoSchedule"}],
     [{"key": "dedicated", "value": "user2", "effect": "NoSchedule"}, FOO_BAR_NOSCHEDULE], None),
    # TAINT_FILTER "...keys and values match the taint on the node, but (non-empty) effect
    # doesn't match"
    ("right key and value, wrong effect",
     [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}],
     [FOO_BAR_NOSCHEDULE], untolerated(FOO_BAR_NOSCHEDULE)),
    # TAINT_FILTER "...the effect of toleration is empty, and the effect of taint is NoSchedule"
    ("an empty effect matches every effect", [{"key": "foo", "operator": "Equal", "value": "bar"}],
     [FOO_BAR_NOSCHEDULE], None),
    # TAINT_FILTER "...key and value don't match the taint on the node, but the effect of taint
    # on node is PreferNoSchedule", "The pod has no toleration, but ... PreferNoSchedule"
    ("PreferNoSchedule only scores",
     [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}],
     [{"key": "dedicated", "value": "user1", "effect": "PreferNoSchedule"}], None),
    ("no tolerations, a PreferNoSchedule taint", [],
     [{"key": "dedicated", "value": "user1", "effect": "PreferNoSchedule"}], None),
    # TOLERATES rule 3: an empty key with Exists tolerates every taint
    ("an empty key with Exists", [{"operator": "Exists"}], [GPU_TAINT, DEDICATED_USER1], None),
    ("an empty key with Exists for NoSchedule only",
     [{"operator": "Exists", "effect": "NoSchedule"}],
     [{"key": "k", "value": "v", "effect": "NoExecute"}],
     untolerated({"key": "k", "value": "v"})),
    # here: a toleration of the pool taint's key tolerates it only with its value and effect
    ("the GPU key with Exists and the effect", [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}], [GPU_TAINT],
     None),
    ("the GPU key with the wrong value",
     [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}],
     [GPU_TAINT], untolerated(GPU_TAINT)),
    ("the GPU key with the wrong effect",
     [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}], [GPU_TAINT],
     untolerated(GPU_TAINT)),
    ("Equal with no value against a valued taint", [{"key": "nvidia.com/gpu"}], [GPU_TAINT],
     untolerated(GPU_TAINT)),
    # here: DoNotScheduleTaintsFilterFunc, NoExecute taints must be tolerated too
    ("a NoExecute taint", [], [{"key": "k", "value": "v", "effect": "NoExecute"}],
     untolerated({"key": "k", "value": "v"})),
    # TOLERATES rule 4 (compareNumericValues): Gt holds when the taint's value is greater
    ("Gt below the taint's value", [{"key": "gen", "operator": "Gt", "value": "3"}],
     [{"key": "gen", "value": "5", "effect": "NoSchedule"}], None),
    ("Gt above the taint's value", [{"key": "gen", "operator": "Gt", "value": "7"}],
     [{"key": "gen", "value": "5", "effect": "NoSchedule"}],
     untolerated({"key": "gen", "value": "5"})),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tolerations", "taints", "refusal"), [pytest.param(*r[1:], id=r[0]) for r in TAINT_ROWS]
)
def test_taint_toleration(tolerations: list[Doc], taints: list[Doc], refusal: str | None) -> None:
    cluster = cluster_of(("nodeA", {}), taints=taints)
    assert cluster.why(pod(tolerations=tolerations), "nodeA") == refusal


@pytest.mark.parametrize(
    ("tolerations", "fits"),
    [
        # plugins/nodeunschedulable/node_unschedulable_test.go TestNodeUnschedulable
        pytest.param([], False, id="a cordoned node refuses a pod"),
        pytest.param(
            [
                {
                    "key": "node.kubernetes.io/unschedulable",
                    "operator": "Exists",
                    "effect": "NoSchedule",
                }
            ],
            True,
            id="unless it tolerates the unschedulable taint",
        ),
    ],
)
def test_node_unschedulable(tolerations: list[Doc], fits: bool) -> None:
    cluster = Cluster().add_node("n", allocatable=BIG, unschedulable=True)
    refusal = None if fits else "NodeUnschedulable: node(s) were unschedulable"
    assert cluster.why(pod(tolerations=tolerations), "n") == refusal


# --- NodeResourcesFit ------------------------------------------------------------------------

# ENOUGH: plugins/noderesources/fit_test.go TestEnoughRequests
# makeAllocatableResources(10, 20, 32, 5, 20, 5) of that test: 10m cpu, 20 bytes, 32 pods,
# 5 of example.com/aaa, 5 of hugepages-2Mi.
SMALL = {
    "cpu": "10m",
    "memory": "20",
    "pods": "32",
    "example.com/aaa": "5",
    "hugepages-2Mi": "5",
    "ephemeral-storage": "20",
}


def c(cpu: int = 0, memory: int = 0, limits_only: bool = False, **scalars: int) -> Doc:
    """A container requesting `cpu` millicores, `memory` bytes and scalar resources (written
    with `_` for `/` and `.`: example_com_aaa)."""
    amounts = {"cpu": f"{cpu}m", "memory": str(memory)} if cpu or memory else {}
    amounts |= {k.replace("__", "/").replace("_", "."): str(v) for k, v in scalars.items()}
    kind = "limits" if limits_only else "requests"
    return {"name": "c", "image": "i", "resources": {kind: amounts}}


A = "example.com/aaa"
# (id, containers, init containers, what the node's pods already request, refusal)
RESOURCE_ROWS: list[tuple[str, list[Doc], list[Doc], Doc, str | None]] = [
    # ENOUGH "no resources requested always fits"
    ("no requests", [{"name": "c", "image": "i"}], [], c(10, 20), None),
    # ENOUGH "too many resources fails"
    ("too much cpu and memory", [c(1, 1)], [], c(10, 20),
     "Insufficient cpu, Insufficient memory"),
    # ENOUGH "too many resources fails due to (highest) init container cpu/memory"
    ("an init container's cpu", [c(1, 1)], [c(3, 1)], c(8, 19), "Insufficient cpu"),
    ("the highest init container's cpu", [c(1, 1)], [c(3, 1), c(2, 1)], c(8, 19),
     "Insufficient cpu"),
    ("an init container's memory", [c(1, 1)], [c(1, 3)], c(9, 19), "Insufficient memory"),
    # ENOUGH "init container fits because it's the max, not sum, of containers and init
    # containers", "multiple init containers fit..."
    ("init containers count their max", [c(1, 1)], [c(1, 1), c(1, 1)], c(9, 19), None),
    # ENOUGH "equal edge case", "equal edge case for init container"
    ("exactly what is left", [c(5, 1)], [], c(5, 19), None),
    ("exactly what is left, by an init container", [c(4, 1)], [c(5, 1)], c(5, 19), None),
    # ENOUGH "extended resource capacity enforced", "...allocatable enforced", "...for multiple
    # containers", "...admits multiple init containers", "...for unknown resource"
    ("more of an extended resource than the node has", [c(1, 1, example_com__aaa=10)], [],
     c(), f"Insufficient {A}"),
    ("more than is left", [c(1, 1, example_com__aaa=1)], [], c(example_com__aaa=5),
     f"Insufficient {A}"),
    ("containers add up", [c(1, 1, example_com__aaa=3)] * 2, [], c(example_com__aaa=2),
     f"Insufficient {A}"),
    ("init containers do not add up", [{"name": "c", "image": "i"}],
     [c(1, 1, example_com__aaa=3)] * 2, c(example_com__aaa=2), None),
    ("a resource the node does not have", [c(1, 1, example_com__bbb=1)], [], c(),
     "Insufficient example.com/bbb"),
    # ENOUGH "kubernetes.io resource capacity enforced", "hugepages resource capacity enforced"
    ("a kubernetes.io/ resource", [c(1, 1, kubernetes_io__something=10)], [], c(),
     "Insufficient kubernetes.io/something"),
    ("hugepages", [c(1, 1, **{"hugepages-2Mi": 10})], [], c(), "Insufficient hugepages-2Mi"),
    # here: SetDefaults_Pod (pkg/apis/core/v1/defaults.go) makes a limit the request
    ("a GPU limit only", [c(limits_only=True, nvidia_com__gpu=1)], [], c(),
     "Insufficient nvidia.com/gpu"),
    # here: resource.PodRequests (component-helpers/resource/helpers.go): a sidecar (init
    # container with restartPolicy Always) adds to the containers
    ("a sidecar adds up", [c(5, 1)], [{**c(5, 1), "restartPolicy": "Always"}], c(1),
     "Insufficient cpu"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("containers", "init", "used", "refusal"),
    [pytest.param(*r[1:], id=r[0]) for r in RESOURCE_ROWS],
)
def test_node_resources_fit(
    containers: list[Doc], init: list[Doc], used: Doc, refusal: str | None
) -> None:
    cluster = Cluster().add_node("n", allocatable=SMALL)
    cluster.add_pod(pod(containers=[used]), "n")
    incoming = (
        pod(containers=containers, initContainers=init) if init else pod(containers=containers)
    )
    assert cluster.why(incoming, "n") == (refusal and f"NodeResourcesFit: {refusal}")


def test_overhead_counts_and_so_does_the_pod_count() -> None:
    # here: PodRequests adds spec.overhead; fitsRequest refuses one pod more than `pods`.
    cluster = Cluster().add_node("n", allocatable={**SMALL, "pods": "2"})
    cluster.add_pod(pod(containers=[c(1)]), "n")
    assert cluster.why(pod(containers=[c(5)], overhead={"cpu": "5m"}), "n") == (
        "NodeResourcesFit: Insufficient cpu"
    )
    assert cluster.why(pod(containers=[c(5)], overhead={"cpu": "4m"}), "n") is None
    cluster.add_pod(pod(), "n")
    assert cluster.why(pod(), "n") == "NodeResourcesFit: Too many pods"


# --- PodTopologySpread -----------------------------------------------------------------------

# SINGLE: plugins/podtopologyspread/filtering_test.go TestSingleConstraint
SKEW = "PodTopologySpread: node(s) didn't match pod topology spread constraints"
MISSING = SKEW + " (missing required label)"
ZONES = {"node-a": "zone1", "node-b": "zone1", "node-x": "zone2", "node-y": "zone2"}


def spread(key: str, max_skew: int = 1, selector: Doc | None = None) -> Doc:
    return {
        "maxSkew": max_skew,
        "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": selector or {"matchExpressions": [e("foo", "Exists")]},
    }


def zoned(labels: dict[str, dict[str, str]] | None = None) -> Cluster:
    cluster = Cluster()
    for name, zone in ZONES.items():
        node_labels = (labels or {}).get(name, {"zone": zone})
        cluster.add_node(name, labels={**node_labels, "node": name}, allocatable=BIG)
    return cluster


FOO = {"foo": ""}
P_A = [("node-a", "default", FOO)] * 2 + [("node-b", "default", FOO)]
SPREAD_2_1_0_3 = P_A + [("node-y", "default", FOO)] * 3

# (id, pod labels, constraint, existing pods (node, namespace, labels), node label overrides,
# verdict per node: "" fits, else the refusal)
SPREAD_ROWS: list[tuple[str, dict[str, str], Doc, list[Any], Any, dict[str, str]]] = [
    # SINGLE "no existing pods", "no existing pods, incoming pod doesn't match itself"
    ("no existing pods", FOO, spread("zone"), [], None, dict.fromkeys(ZONES, "")),
    ("the pod does not match itself", FOO,
     spread("zone", selector={"matchExpressions": [e("bar", "Exists")]}), [], None,
     dict.fromkeys(ZONES, "")),
    # SINGLE "existing pods in a different namespace do not count"
    ("other namespaces do not count", FOO, spread("zone"),
     [("node-a", "ns1", FOO), ("node-a", "ns2", FOO), ("node-x", "default", FOO),
      ("node-y", "default", FOO)], None,
     {"node-a": "", "node-b": "", "node-x": SKEW, "node-y": SKEW}),
    # SINGLE "pods spread across zones as 3/3, all nodes fit"
    ("3/3 across zones", FOO, spread("zone"),
     P_A + [("node-y", "default", FOO)] * 3, None, dict.fromkeys(ZONES, "")),
    # SINGLE "pods spread across zones as 1/2 due to absence of label 'zone' on node-b"
    ("a node without the zone label", FOO, spread("zone"),
     [(n, "default", FOO) for n in ZONES], {"node-b": {"zon": "zone1"}},
     {"node-a": "", "node-b": MISSING, "node-x": SKEW, "node-y": SKEW}),
    # SINGLE "pod cannot be scheduled as all nodes don't have label 'rack'"
    ("no node has the key", FOO, spread("rack"), [], None, dict.fromkeys(ZONES, MISSING)),
    # SINGLE "pods spread across nodes as 2/1/0/3, only node-x fits", "...maxSkew is 2, node-b
    # and node-x fit", "...but pod doesn't match itself"
    ("2/1/0/3 across nodes", FOO, spread("node"), SPREAD_2_1_0_3, None,
     {"node-a": SKEW, "node-b": SKEW, "node-x": "", "node-y": SKEW}),
    ("2/1/0/3 with maxSkew 2", FOO, spread("node", 2), SPREAD_2_1_0_3, None,
     {"node-a": SKEW, "node-b": "", "node-x": "", "node-y": SKEW}),
    ("2/1/0/3, not matching itself", {"bar": ""}, spread("node"), SPREAD_2_1_0_3, None,
     {"node-a": SKEW, "node-b": "", "node-x": "", "node-y": SKEW}),
    # here: a key that is not a label key at all (kube-apiserver only needs it non-empty)
    ("a topologyKey with a space", FOO, spread("topology zone"), [], None,
     dict.fromkeys(ZONES, MISSING)),
    # here: ScheduleAnyway constraints only score
    ("ScheduleAnyway never filters", FOO, {**spread("rack"), "whenUnsatisfiable": "ScheduleAnyway"},
     [], None, dict.fromkeys(ZONES, "")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "constraint", "existing", "relabel", "verdicts"),
    [pytest.param(*r[1:], id=r[0]) for r in SPREAD_ROWS],
)
def test_pod_topology_spread(
    labels: dict[str, str],
    constraint: Doc,
    existing: list[tuple[str, str, dict[str, str]]],
    relabel: dict[str, dict[str, str]] | None,
    verdicts: dict[str, str],
) -> None:
    cluster = zoned(relabel)
    for node, namespace, pod_labels in existing:
        cluster.add_pod(pod(pod_labels, namespace), node)
    incoming = pod(labels, topologySpreadConstraints=[constraint])
    assert {n: cluster.why(incoming, n) or "" for n in ZONES} == verdicts


def test_spread_counts_only_nodes_the_pod_may_use_and_skips_terminating_pods() -> None:
    # SINGLE "incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits"
    # (node-b and node-x fail NodeAffinity "in real case"), "terminating Pods should be
    # excluded".
    cluster = zoned()
    for node, namespace, pod_labels in SPREAD_2_1_0_3:
        cluster.add_pod(pod(pod_labels, namespace), node)
    incoming = pod(
        FOO,
        affinity=required(exprs(e("node", "In", "node-a", "node-y"))),
        topologySpreadConstraints=[spread("node")],
    )
    assert {n: cluster.why(incoming, n) or "" for n in ZONES} == {
        "node-a": "",
        "node-b": NO_AFFINITY,
        "node-x": NO_AFFINITY,
        "node-y": SKEW,
    }
    two = Cluster().add_node("node-a", labels={"node": "node-a"}, allocatable=BIG)
    two.add_node("node-b", labels={"node": "node-b"}, allocatable=BIG)
    terminating = pod(FOO)
    terminating["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    two.add_pod(terminating, "node-a").add_pod(pod(FOO), "node-b")
    assert two.feasible(pod(FOO, topologySpreadConstraints=[spread("node")])) == ["node-a"]


# --- InterPodAffinity ------------------------------------------------------------------------

# SINGLE_NODE: plugins/interpodaffinity/filtering_test.go TestRequiredAffinitySingleNode
AFFINITY = "InterPodAffinity: node(s) didn't match pod affinity rules"
ANTI = "InterPodAffinity: node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI = "InterPodAffinity: node(s) didn't satisfy existing pods anti-affinity rules"
SCAN = {"service": "securityscan"}
S1 = {"security": "S1"}


def term(key: str, operator: str, values: list[str] | None, topology: str, **extra: Any) -> Doc:
    expression = {"key": key, "operator": operator, **({"values": values} if values else {})}
    return {"labelSelector": {"matchExpressions": [expression]}, "topologyKey": topology, **extra}


def affinity(terms: list[Doc] = (), anti: list[Doc] = ()) -> Doc:  # type: ignore[assignment]
    out: Doc = {}
    if terms:
        out["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}
    if anti:
        out["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": list(anti)}
    return out


SCAN_IN = term("service", "In", ["securityscan", "value2"], "region")
# (id, pod labels, pod affinity, existing pods (namespace, labels, affinity), refusal)
AFFINITY_ROWS: list[tuple[str, dict[str, str], Doc, list[Any], str | None]] = [
    # SINGLE_NODE "satisfies with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity
    # using In operator that matches the existing pod", "...not in operator..."
    ("In matches the pod in the region", S1, affinity([SCAN_IN]), [("default", SCAN, {})], None),
    ("NotIn matches the pod in the region", S1,
     affinity([term("service", "NotIn", ["securityscan3", "value3"], "region")]),
     [("default", SCAN, {})], None),
    # SINGLE_NODE "Does not satisfy the PodAffinity with labelSelector because of diff Namespace"
    ("the pod is in another namespace", S1,
     affinity([term("service", "In", ["securityscan", "value2"], "",
                    namespaces=["DiffNameSpace"])]), [("ns", SCAN, {})], AFFINITY),
    # SINGLE_NODE "Doesn't satisfy the PodAffinity because of unmatching labelSelector with the
    # existing pod"
    ("no pod matches the selector", SCAN,
     affinity([term("service", "In", ["antivirusscan", "value2"], "")]),
     [("default", SCAN, {})], AFFINITY),
    # SINGLE_NODE "satisfies the PodAffinity and PodAntiAffinity with the existing pod"
    ("affinity holds, anti-affinity has no pod", S1,
     affinity([SCAN_IN], [term("service", "In", ["antivirusscan", "value2"], "node")]),
     [("default", SCAN, {})], None),
    # SINGLE_NODE "satisfies the PodAffinity but doesn't satisfy the PodAntiAffinity with the
    # existing pod"
    ("anti-affinity to the pod in the zone", S1,
     affinity([SCAN_IN], [term("service", "In", ["securityscan", "value2"], "zone")]),
     [("default", SCAN, {})], ANTI),
    # SINGLE_NODE "satisfies the PodAffinity and PodAntiAffinity but doesn't satisfy
    # PodAntiAffinity symmetry with the existing pod"
    ("the existing pod's anti-affinity refuses it", SCAN,
     affinity([SCAN_IN], [term("service", "In", ["antivirusscan", "value2"], "node")]),
     [("default", SCAN,
       affinity(anti=[term("service", "In", ["securityscan", "value2"], "zone")]))],
     EXISTING_ANTI),
    # SINGLE_NODE "pod matches its own Label in PodAffinity and that matches the existing pod
    # Labels" (the existing pod is on node2, which is not in the cluster)
    ("it does not match its own term", SCAN,
     affinity([term("service", "NotIn", ["securityscan", "value2"], "region")]), [], AFFINITY),
    # SINGLE_NODE "verify that PodAntiAffinity from existing pod is respected when pod has no
    # AntiAffinity constraints. doesn't satisfy / satisfy PodAntiAffinity symmetry"
    ("symmetry without its own anti-affinity", SCAN, {},
     [("default", SCAN,
       affinity(anti=[term("service", "In", ["securityscan", "value2"], "zone")]))],
     EXISTING_ANTI),
    ("symmetry that does not match it", SCAN, {},
     [("default", SCAN,
       affinity(anti=[term("service", "NotIn", ["securityscan", "value2"], "zone")]))], None),
    # SINGLE_NODE "affinity with NamespaceSelector"
    ("a namespaceSelector matching the pod's namespace", S1,
     affinity([term("service", "In", ["securityscan", "value2"], "region",
                    namespaceSelector={"matchLabels": {"team": "team1"}})]),
     [("subteam1.team1", SCAN, {})], None),
    # here: the same term selecting another team's namespaces
    ("a namespaceSelector missing the pod's namespace", S1,
     affinity([term("service", "In", ["securityscan", "value2"], "region",
                    namespaceSelector={"matchLabels": {"team": "team2"}})]),
     [("subteam1.team1", SCAN, {})], AFFINITY),
    # here: framework.AffinityTerm, a namespaceSelector `{}` is every namespace
    ("namespaceSelector {} is every namespace", S1,
     affinity([term("service", "In", ["securityscan"], "region", namespaceSelector={})]),
     [("elsewhere", SCAN, {})], None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "pod_affinity", "existing", "refusal"),
    [pytest.param(*r[1:], id=r[0]) for r in AFFINITY_ROWS],
)
def test_inter_pod_affinity(
    labels: dict[str, str], pod_affinity: Doc, existing: list[Any], refusal: str | None
) -> None:
    cluster = cluster_of(("node1", {"region": "r1", "zone": "z11"}))
    cluster.add_namespace("subteam1.team1", {"team": "team1"})
    for namespace, pod_labels, own_affinity in existing:
        cluster.add_pod(pod(pod_labels, namespace, affinity=own_affinity), "node1")
    spec = {"affinity": pod_affinity} if pod_affinity else {}
    assert cluster.why(pod(labels, **spec), "node1") == refusal


def test_an_invalid_selector_refuses_every_node() -> None:
    # SINGLE_NODE "PodAffinity fails PreFilter with an invalid affinity label syntax"
    bad = affinity([term("service", "In", ["{{.bad-value.}}"], "region")])
    cluster = cluster_of(("node1", {"region": "r1"}))
    refusal = cluster.why(pod(SCAN, affinity=bad), "node1")
    assert refusal is not None and refusal.startswith("InterPodAffinity: parsing pod: ")


# --- the model built from a policy set ----------------------------------------------------


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.name)
def test_one_node_per_declared_pool_with_the_labels_of_a_real_node(path: Path) -> None:
    cluster = Cluster.from_policy_set(path)
    loaded = load_policy_set(path)
    assert [n.pool for n in cluster.nodes] == list(loaded.pools)
    for node in cluster.nodes:
        pool = loaded.pools[str(node.pool)].spec
        assert node.labels["kubernetes.io/hostname"] == node.name
        assert node.labels["kubernetes.io/os"] == "linux"
        for key in (
            "kubernetes.io/arch",
            "topology.kubernetes.io/zone",
            "topology.kubernetes.io/region",
            "node.kubernetes.io/instance-type",
        ):
            assert node.labels[key]
        assert pool.node_labels.items() <= node.labels.items()
        assert [t["key"] for t in node.taints] == [t.key for t in pool.node_taints]
        assert node.spot == (pool.capacity_type == "spot")
        assert all(node.allocatable[r] > 0 for r in pool.extended_resources)
    # A loaded set gives the same cluster as its files.
    again = Cluster.from_policy_set(loaded)
    assert [(n.name, n.labels, n.taints) for n in again.nodes] == [
        (n.name, n.labels, n.taints) for n in cluster.nodes
    ]


SHIPPED = REPO / "policies"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
GPU = [c(limits_only=True, nvidia_com__gpu=1)]


@pytest.mark.parametrize(
    ("spec", "pools", "spot_only"),
    [
        pytest.param({}, ["ondemand", "default"], False, id="a plain pod: the untainted pools"),
        pytest.param(
            {"nodeSelector": {"ng-name": "default"}},
            ["default"],
            True,
            id="a nodeSelector on the spot default pool",
        ),
        pytest.param({"containers": GPU}, [], False, id="a GPU pod without the toleration"),
        pytest.param(
            {"containers": GPU, "tolerations": [GPU_TOLERATION]},
            ["g1"],
            True,
            id="a GPU pod tolerating the GPU taint",
        ),
        pytest.param(
            {"tolerations": [{"operator": "Exists"}]},
            ["system", "ondemand", "job", "g1", "default"],
            False,
            id="tolerating every taint",
        ),
        pytest.param(
            {"affinity": required(exprs(e("ng-name", "In", "job")))},
            [],
            False,
            id="required onto a tainted pool it does not tolerate",
        ),
        pytest.param({"affinity": required({})}, [], False, id="nodeSelectorTerms [{}]"),
    ],
)
def test_pools_of_the_shipped_set(spec: Doc, pools: list[str], spot_only: bool) -> None:
    cluster = Cluster.from_policy_set(SHIPPED)
    assert cluster.pools_for(pod(**spec)) == pools
    assert cluster.spot_only(pod(**spec)) is spot_only


def test_a_pin_to_a_node_of_a_pool_and_a_peer_on_another_node() -> None:
    """A pod pinned to a node, and one bound by required podAffinity to a database pod on
    another node, can go only there: a pool requirement elsewhere leaves them nowhere."""
    cluster = Cluster.from_policy_set(SHIPPED).add_node("ip-10-0-1-23", pool="ondemand")
    pinned = pod(affinity=required({"matchFields": [name_is("ip-10-0-1-23")]}))
    assert cluster.feasible(pinned) == ["ip-10-0-1-23"]
    assert cluster.pools_for(pinned) == ["ondemand"]
    database = pod({"app.kubernetes.io/name": "postgresql"}, "data")
    cluster.add_pod(database, "ip-10-0-1-23")
    backup = pod(
        namespace="data",
        affinity=affinity(
            [term("app.kubernetes.io/name", "In", ["postgresql"], "kubernetes.io/hostname")]
        ),
    )
    assert cluster.feasible(backup) == ["ip-10-0-1-23"]
    assert cluster.why(backup, "ondemand-node") == AFFINITY
    elsewhere = {**backup, "spec": {**backup["spec"], "nodeSelector": {"ng-name": "default"}}}
    assert cluster.feasible(elsewhere) == []
    # In another namespace the term finds no peer, and the pod does not match its own term.
    assert cluster.feasible(pod(affinity=backup["spec"]["affinity"])) == []


def test_the_first_pod_of_a_group_that_attracts_itself_goes_anywhere() -> None:
    # plugins/interpodaffinity/filtering.go satisfyPodAffinity: no pod matches the terms yet
    # and the pod matches them itself.
    cluster = Cluster.from_policy_set(SHIPPED)
    web = {"app": "web"}
    first = pod(web, affinity=affinity([term("app", "In", ["web"], "topology.kubernetes.io/zone")]))
    assert cluster.feasible(first) == ["ondemand-node", "default-node"]


def test_a_spread_on_a_label_no_pool_states_leaves_the_pod_nowhere() -> None:
    cluster = Cluster.from_policy_set(SHIPPED)
    constraint = spread("example.com/rack", selector={"matchLabels": {"app": "web"}})
    refused = pod({"app": "web"}, topologySpreadConstraints=[constraint])
    assert cluster.feasible(refused) == []
    assert cluster.why(refused, "ondemand-node") == MISSING
    zone = spread("topology.kubernetes.io/zone", selector={"matchLabels": {"app": "web"}})
    assert cluster.pools_for(pod({"app": "web"}, topologySpreadConstraints=[zone])) == [
        "ondemand",
        "default",
    ]
