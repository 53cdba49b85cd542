"""`placement-webhook pools`: NodePool documents read from Nodes as each cloud writes them
(tests/cloud_nodes.py) and from Karpenter NodePools, accepted by `check`, and the same pools
the shipped cloud examples declare for those clusters."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cloud_nodes import (
    GPU,
    aks_cluster,
    eks_cluster,
    eks_node,
    gke_cluster,
    karpenter_cluster,
    karpenter_nodepool,
    node,
    node_list,
)
from tests.pods import SHIPPED_POLICIES
from webhook.kube.nodes import capacity_of
from webhook.kube.resources import is_extended_resource_name
from webhook.policy.load import parse_policy_set
from webhook.tools.cli import main

CLUSTERS = {
    "eks": lambda: node_list(eks_cluster()),
    "gke": lambda: node_list(gke_cluster()),
    "aks": lambda: node_list(aks_cluster()),
    "karpenter": lambda: karpenter_listing(),
}


def karpenter_listing() -> dict[str, Any]:
    nodes, nodepools = karpenter_cluster()
    return node_list(nodes, *nodepools)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def pools_of(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, listing: dict[str, Any], *flags: str
) -> tuple[str, dict[str, dict[str, Any]]]:
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(listing, indent=4))
    code, out, err = run(capsys, "pools", str(path), *flags)
    assert code == 0, err
    documents = [d for d in yaml.safe_load_all(out) if d]
    return out, {d["metadata"]["name"]: d for d in documents}


def example_pools(cloud: str) -> dict[str, dict[str, Any]]:
    text = (SHIPPED_POLICIES / "examples" / cloud / "policies.yaml").read_text()
    return {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all(text)
        if d and d.get("kind") == "NodePool"
    }


def taints(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (t["key"], str(t.get("value", "")), t["effect"])
        for t in document["spec"].get("nodeTaints", [])
    }


@pytest.mark.parametrize("cloud", list(CLUSTERS))
def test_the_pools_of_each_cloud_are_the_examples_pools(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, cloud: str
) -> None:
    _, found = pools_of(capsys, tmp_path, CLUSTERS[cloud]())
    for name, example in example_pools(cloud).items():
        pool = found[name]
        assert pool["spec"]["capacityType"] == example["spec"]["capacityType"], name
        assert taints(pool) == taints(example), name
        assert pool["spec"].get("extendedResources", []) == example["spec"].get(
            "extendedResources", []
        ), name
        # The example's labels select the pool's nodes; the pool may name more that every node
        # of it carries (GKE's accelerator and Spot provisioning labels, AKS's mode).
        assert example["spec"]["nodeLabels"].items() <= pool["spec"]["nodeLabels"].items(), name
        if cloud in ("eks", "karpenter"):
            assert pool["spec"]["nodeLabels"] == example["spec"]["nodeLabels"], name
    extra = set(found) - set(example_pools(cloud))
    assert extra == ({"karpenter"} if cloud == "karpenter" else set())


@pytest.mark.parametrize("cloud", list(CLUSTERS))
def test_check_accepts_the_pools_and_main_s_coming_declaration_rules_hold(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, cloud: str
) -> None:
    out, found = pools_of(capsys, tmp_path, CLUSTERS[cloud]())
    (tmp_path / "pools.yaml").write_text(out)
    code, _, err = run(capsys, "check", str(tmp_path / "pools.yaml"))
    assert code == 0, err
    assert len(parse_policy_set([("pools.yaml", out.encode())]).pools) == len(found)
    labels = [tuple(sorted(d["spec"]["nodeLabels"].items())) for d in found.values()]
    assert len(set(labels)) == len(labels)  # no two pools with identical labels
    for document in found.values():
        spec = document["spec"]
        stated, evidence = capacity_of(spec["nodeLabels"])
        assert stated in (None, spec["capacityType"]), evidence
        keys = [(t["key"], t["effect"]) for t in spec.get("nodeTaints", [])]
        assert len(set(keys)) == len(keys)  # one taint per key and effect
        for resource in spec.get("extendedResources", []):
            assert is_extended_resource_name(resource) and "kubernetes.io/" not in resource


def test_output_is_the_same_for_the_same_nodes_in_any_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    nodes = gke_cluster(3)
    first, _ = pools_of(capsys, tmp_path, node_list(nodes))
    random.Random(7).shuffle(nodes)
    second, _ = pools_of(capsys, tmp_path, node_list(nodes))
    assert first == second


def test_each_pool_says_in_a_comment_what_it_was_read_from(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out, _ = pools_of(capsys, tmp_path, CLUSTERS["karpenter"]())
    comments = [line for line in out.splitlines() if line.startswith("# ") and ": " in line]
    assert (
        "# general-spot: Karpenter NodePool general, capacity type spot; read from its "
        "template and 2 nodes."
    ) in comments
    assert (
        "# gpu-on-demand: Karpenter NodePool gpu, capacity type on-demand; read from its "
        "template and 0 nodes."
    ) in comments
    assert (
        "# karpenter: nodes labelled eks.amazonaws.com/nodegroup=karpenter; read from 2 nodes."
    ) in comments


def test_a_karpenter_nodepool_scaled_to_zero_has_its_pools_from_its_template(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The gpu NodePool has no node: its taint and its GPU (from instance families g5, g6,
    p4d) come from the template, one pool per capacity type it allows."""
    _, found = pools_of(capsys, tmp_path, CLUSTERS["karpenter"]())
    for capacity in ("spot", "on-demand"):
        spec = found[f"gpu-{capacity}"]["spec"]
        assert spec["extendedResources"] == [GPU]
        assert spec["nodeTaints"] == [{"key": GPU, "value": "true", "effect": "NoSchedule"}]
        assert spec["capacityType"] == capacity


@pytest.mark.parametrize(
    ("requirements", "pools", "extended"),
    [
        ([], ["ml-on-demand"], []),  # Karpenter's AWS webhook defaults to on-demand
        ([("karpenter.sh/capacity-type", "NotIn", ["spot"])], ["ml-on-demand"], []),
        ([("karpenter.sh/capacity-type", "Exists", [])], ["ml-on-demand", "ml-spot"], []),
        ([("karpenter.k8s.aws/instance-gpu-count", "Gt", ["0"])], ["ml-on-demand"], [GPU]),
        (
            [("karpenter.k8s.aws/instance-gpu-manufacturer", "In", ["amd"])],
            ["ml-on-demand"],
            ["amd.com/gpu"],
        ),
        (
            [("karpenter.k8s.aws/instance-family", "In", ["inf2", "trn1"])],
            ["ml-on-demand"],
            ["aws.amazon.com/neuron"],
        ),
        ([("karpenter.k8s.aws/instance-family", "In", ["g5", "m6i"])], ["ml-on-demand"], []),
    ],
    ids=[
        "no capacity requirement",
        "not spot",
        "any capacity",
        "a GPU count",
        "an AMD GPU",
        "Neuron families",
        "families not all with GPUs",
    ],
)
def test_karpenter_requirements(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    requirements: list[tuple[str, str, list[str]]],
    pools: list[str],
    extended: list[str],
) -> None:
    nodepool = karpenter_nodepool("ml", ["on-demand"])
    reqs = nodepool["spec"]["template"]["spec"]["requirements"]
    reqs[:] = [r for r in reqs if r["key"] != "karpenter.sh/capacity-type"]
    reqs += [{"key": k, "operator": op, "values": v} for k, op, v in requirements]
    _, found = pools_of(capsys, tmp_path, node_list([], nodepool))
    assert sorted(found) == pools
    for name in pools:
        assert found[name]["spec"].get("extendedResources", []) == extended


def test_labels_the_platform_sets_per_node_or_image_are_left_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Hostname, zone, instance type, node image, kubelet identity: a placement requiring them
    would break at the next upgrade or scale-up in another zone."""
    _, found = pools_of(capsys, tmp_path, node_list(aks_cluster(1)))
    labels = found["spotgpu"]["spec"]["nodeLabels"]
    assert labels == {
        "kubernetes.azure.com/accelerator": "nvidia",
        "kubernetes.azure.com/agentpool": "spotgpu",
        "kubernetes.azure.com/mode": "user",
        "kubernetes.azure.com/scalesetpriority": "spot",
    }


def test_a_label_the_team_put_on_every_node_of_a_group_is_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    nodes = [eks_node("batch-gpu", i) for i in range(3)]
    for n in nodes:
        n["metadata"]["labels"] |= {"team": "ml", "k8s.amazonaws.com/accelerator": "nvidia-a10g"}
    nodes[0]["metadata"]["labels"]["rack"] = "r1"  # not on every node
    _, found = pools_of(capsys, tmp_path, node_list(nodes))
    labels = found["batch-gpu"]["spec"]["nodeLabels"]
    assert labels["team"] == "ml" and labels["k8s.amazonaws.com/accelerator"] == "nvidia-a10g"
    assert "rack" not in labels


def test_taints_of_a_node_s_state_are_not_the_pool_s(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A cordoned node (node.kubernetes.io/unschedulable) and one cluster-autoscaler is
    removing keep the pool's own taints only."""
    nodes = [eks_node("batch-cpu", i) for i in range(2)]
    nodes[0]["spec"]["taints"].append(
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    )
    nodes[1]["spec"]["taints"].append(
        {"key": "ToBeDeletedByClusterAutoscaler", "value": "1772440000", "effect": "NoSchedule"}
    )
    _, found = pools_of(capsys, tmp_path, node_list(nodes))
    assert found["batch-cpu"]["spec"]["nodeTaints"] == [
        {"key": "spot", "value": "true", "effect": "NoSchedule"}
    ]


def test_a_group_of_spot_and_on_demand_nodes_is_declared_spot_with_a_note(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    nodes = [eks_node("default", i) for i in range(2)]
    nodes[1]["metadata"]["labels"]["eks.amazonaws.com/capacityType"] = "ON_DEMAND"
    out, found = pools_of(capsys, tmp_path, node_list(nodes))
    assert found["default"]["spec"]["capacityType"] == "spot"
    assert "eks.amazonaws.com/capacityType" not in found["default"]["spec"]["nodeLabels"]
    assert "# Note: 1 spot and 1 on-demand nodes: declared spot" in out


def test_group_by_a_label_the_team_chose(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Self-managed nodes (kubeadm, kubelet --node-labels) carry no provider label: grouped by
    the label named, on demand unless a capacity label says otherwise, with a note."""
    nodes = [
        node(f"worker-{i}", {"ng-name": group, **extra}, provider_id=f"openstack:///{i}")
        for i, (group, extra) in enumerate(
            [("job", {"node-lifecycle": "spot"}), ("job", {"node-lifecycle": "spot"}),
             ("ondemand", {})]
        )
    ]  # fmt: skip
    out, found = pools_of(capsys, tmp_path, node_list(nodes), "--group-by", "ng-name")
    assert found["job"]["spec"]["capacityType"] == "spot"
    assert found["job"]["spec"]["nodeLabels"] == {"ng-name": "job", "node-lifecycle": "spot"}
    assert found["ondemand"]["spec"]["capacityType"] == "on-demand"
    assert "# Note: no node says its capacity type: on-demand assumed" in out


def test_nodes_with_no_pool_label_are_named_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    listing = node_list([*eks_cluster(1), node("kubeadm-1", {}, provider_id="x")])
    (tmp_path / "n.json").write_text(json.dumps(listing))
    code, out, err = run(capsys, "pools", str(tmp_path / "n.json"))
    assert code == 0
    assert "# Not in any pool (no pool label): kubeadm-1." in out
    assert err == (
        "warning: 1 nodes have no pool label and are in no pool (kubeadm-1); name one with "
        "--group-by\n"
    )


def api_fixture_node() -> dict[str, Any]:
    """kubernetes/api testdata/HEAD/core.v1.Node.json: every field of a Node, each holding a
    placeholder of its type (a taint effect `effectValue`, a quantity "0")."""
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": "nameValue",
            "uid": "uidValue",
            "labels": {"labelsKey": "labelsValue"},
        },
        "spec": {
            "providerID": "providerIDValue",
            "unschedulable": True,
            "taints": [
                {
                    "key": "keyValue",
                    "value": "valueValue",
                    "effect": "effectValue",
                    "timeAdded": "2004-01-01T01:01:01Z",
                }
            ],
        },
        "status": {"capacity": {"capacityKey": "0"}, "allocatable": {"allocatableKey": "0"}},
    }


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        ({"kind": "List", "items": {"a": 1}}, "document 1: List items must be a list"),
        ({"kind": "List", "items": [3]}, "document 1, item 1: not a Kubernetes object"),
        (
            node_list([api_fixture_node()]),
            "document 1, item 1 (node nameValue): spec.taints[0].effect must be one of "
            "NoSchedule, PreferNoSchedule, NoExecute",
        ),
        (
            node_list([{"kind": "Node", "metadata": {"name": "n", "labels": ["a"]}}]),
            "(node n): metadata.labels must be an object",
        ),
        (
            node_list([{"kind": "Node", "metadata": {"name": "n"}, "spec": {"taints": {}}}]),
            "(node n): spec.taints must be a list",
        ),
        (node_list([{"kind": "Node", "metadata": {}}]), "a Node without metadata.name"),
        (
            node_list([], {**karpenter_nodepool("x", ["spot"]), "spec": []}),
            "(NodePool x): spec must be an object",
        ),
    ],
    ids=[
        "items not a list",
        "an item not an object",
        "the API fixture's placeholder taint effect",
        "labels not a map",
        "taints not a list",
        "a node without a name",
        "a NodePool without a spec",
    ],
)
def test_a_malformed_node_list_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, listing: dict[str, Any], message: str
) -> None:
    (tmp_path / "nodes.json").write_text(json.dumps(listing))
    code, out, err = run(capsys, "pools", str(tmp_path / "nodes.json"))
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert message in err


def test_the_api_fixture_node_with_a_real_effect_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The same fixture, its effect a real one: grouped by a label the team names; its
    zero-quantity resources offer nothing."""
    fixture = api_fixture_node()
    fixture["spec"]["taints"][0]["effect"] = "NoSchedule"
    _, found = pools_of(capsys, tmp_path, node_list([fixture]), "--group-by", "labelsKey")
    assert found["labelsvalue"]["spec"] == {
        "capacityType": "on-demand",
        "nodeLabels": {"labelsKey": "labelsValue"},
        "nodeTaints": [{"key": "keyValue", "value": "valueValue", "effect": "NoSchedule"}],
    }


def test_pools_needs_nodes_or_the_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "pools")
    assert code == 2 and "give the files of Nodes, or --cluster" in err
