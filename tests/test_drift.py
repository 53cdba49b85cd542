"""`check --nodes`: the declared pools against the cluster's nodes, as each cloud writes them
(tests/cloud_nodes.py). Every kind of drift is one line naming the pool and the nodes; drift
fails the check unless `--drift=warn`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cloud_nodes import (
    GPU,
    aks_cluster,
    eks_cluster,
    gke_cluster,
    gke_node,
    karpenter_cluster,
    node,
    node_list,
)
from tests.pods import SHIPPED_POLICIES
from webhook.tools.cli import main

Doc = dict[str, Any]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def example_set(tmp_path: Path, cloud: str, change: Callable[[dict[str, Doc]], None]) -> Path:
    """The cloud example's set, its NodePools changed by `change` (by name; deleting one
    removes it)."""
    documents = [d for d in yaml.safe_load_all((SHIPPED_POLICIES / "examples" / cloud /
                                                 "policies.yaml").read_text()) if d]  # fmt: skip
    pools = {d["metadata"]["name"]: d for d in documents if d["kind"] == "NodePool"}
    change(pools)
    kept = [d for d in documents if d["kind"] != "NodePool"] + list(pools.values())
    directory = tmp_path / "policies"
    directory.mkdir(exist_ok=True)
    (directory / "policies.yaml").write_text(yaml.safe_dump_all(kept, sort_keys=False))
    return directory


def nodes_file(tmp_path: Path, listing: Doc) -> str:
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(listing, indent=4))
    return str(path)


def unchanged(pools: dict[str, Doc]) -> None:
    pass


def drift_lines(err: str) -> list[str]:
    return [line.removeprefix("error: drift: ") for line in err.splitlines() if "drift: " in line]


@pytest.mark.parametrize(
    ("cloud", "nodes"),
    [("eks", eks_cluster), ("gke", gke_cluster), ("aks", aks_cluster)],
)
def test_the_examples_describe_their_clusters_without_drift(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, cloud: str, nodes: Callable[[], list[Doc]]
) -> None:
    code, out, err = run(
        capsys,
        "check",
        str(SHIPPED_POLICIES / "examples" / cloud / "policies.yaml"),
        "--nodes",
        nodes_file(tmp_path, node_list(nodes())),
    )
    assert (code, drift_lines(err)) == (0, []), err
    assert out.splitlines()[-1].endswith("node pools: no drift")


def test_a_taint_whose_effect_differs_the_new_gke_user_s_slip(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The GPU pool's taint written PreferNoSchedule; GKE's GPU nodes carry NoSchedule."""

    def prefer(pools: dict[str, Doc]) -> None:
        pools["gpu-pool"]["spec"]["nodeTaints"][0]["effect"] = "PreferNoSchedule"

    nodes = node_list(gke_cluster())
    code, out, err = run(
        capsys, "check", str(example_set(tmp_path, "gke", prefer)), "--nodes",
        nodes_file(tmp_path, nodes),
    )  # fmt: skip
    gpu_nodes = sorted(n["metadata"]["name"] for n in nodes["items"] if "gpu-pool" in
                       n["metadata"]["name"])  # fmt: skip
    assert code == 1
    assert drift_lines(err) == [
        f"pool gpu-pool: taint nvidia.com/gpu=present:PreferNoSchedule is declared, node "
        f"{gpu_nodes[0]}, node {gpu_nodes[1]} carry nvidia.com/gpu=present:NoSchedule"
    ]
    assert out.splitlines()[-1].endswith("4 node pools: 1 difference")


def test_a_gpu_pool_left_out_leaves_its_nodes_undescribed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A second Spot GPU pool (A100s) the set does not declare."""
    extra = [gke_node("spot-gpu", i) for i in range(4)]
    for index, item in enumerate(extra):
        item["metadata"]["name"] = f"gke-ml-cluster-spot-a100-5e1f-{index}"
        item["metadata"]["labels"]["cloud.google.com/gke-nodepool"] = "spot-a100"
    code, _, err = run(
        capsys,
        "check",
        str(SHIPPED_POLICIES / "examples" / "gke" / "policies.yaml"),
        "--nodes",
        nodes_file(tmp_path, node_list([*gke_cluster(), *extra])),
    )
    assert code == 1
    assert drift_lines(err) == [
        "node gke-ml-cluster-spot-a100-5e1f-0, node gke-ml-cluster-spot-a100-5e1f-1, node "
        "gke-ml-cluster-spot-a100-5e1f-2 and 1 more (cloud.google.com/gke-nodepool=spot-a100): "
        "no declared pool's labels select them"
    ]


def test_a_pool_no_node_carries_the_labels_of_is_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A pool scaled to zero looks the same as one with labels no node has: said, not failed."""
    nodes = [n for n in gke_cluster() if "spot-gpu" not in n["metadata"]["name"]]
    code, _, err = run(
        capsys,
        "check",
        str(SHIPPED_POLICIES / "examples" / "gke" / "policies.yaml"),
        "--nodes",
        nodes_file(tmp_path, node_list(nodes)),
    )
    assert code == 0
    assert (
        "warning: pool spot-gpu: no node carries its labels (cloud.google.com/gke-nodepool="
        "spot-gpu, cloud.google.com/gke-spot=true): it may be scaled to zero, or no node has "
        "these labels"
    ) in err.splitlines()


def set_spec(name: str, field: str, value: Any) -> Callable[[dict[str, Doc]], None]:
    def change(pools: dict[str, Doc]) -> None:
        if value is None:
            pools[name]["spec"].pop(field, None)
        else:
            pools[name]["spec"][field] = value

    return change


GKE_SPOT = {"key": "cloud.google.com/gke-spot", "value": "true", "effect": "NoSchedule"}


def both(*changes: Callable[[dict[str, Doc]], None]) -> Callable[[dict[str, Doc]], None]:
    def change(pools: dict[str, Doc]) -> None:
        for one in changes:
            one(pools)

    return change


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            set_spec("spot-cpu", "nodeTaints", [{**GKE_SPOT, "value": "yes"}]),
            "pool spot-cpu: taint cloud.google.com/gke-spot=yes:NoSchedule is declared, {spot} "
            "carry cloud.google.com/gke-spot=true:NoSchedule",
        ),
        (
            set_spec("default-pool", "nodeTaints", [{"key": "dedicated", "effect": "NoSchedule"}]),
            "pool default-pool: taint dedicated:NoSchedule is declared, {default} carry no "
            "taint dedicated",
        ),
        (
            set_spec("spot-cpu", "nodeTaints", None),
            "pool spot-cpu: {spot} carry the taint cloud.google.com/gke-spot=true:NoSchedule, "
            "which it does not declare",
        ),
        (
            # Declaring it on-demand with the spot label is refused at load (the label
            # contradicts it): the pool says nothing of spot, its nodes do.
            both(
                set_spec("spot-cpu", "capacityType", "on-demand"),
                set_spec("spot-cpu", "nodeLabels", {"cloud.google.com/gke-nodepool": "spot-cpu"}),
            ),
            "pool spot-cpu is declared on-demand, but {spot}: spot "
            "(cloud.google.com/gke-spot=true)",
        ),
        (
            set_spec("default-pool", "capacityType", "spot"),
            "pool default-pool is declared spot, but {default}: on-demand "
            "(cloud.google.com/gke-nodepool, no spot label)",
        ),
        (
            set_spec("default-pool", "extendedResources", [GPU]),
            "pool default-pool declares nvidia.com/gpu, but {default} offer none",
        ),
        (
            set_spec("gpu-pool", "extendedResources", None),
            "pool gpu-pool: {gpu} offer nvidia.com/gpu, which it does not declare",
        ),
    ],
    ids=[
        "a taint's value differs",
        "a declared taint is missing",
        "a taint is not declared",
        "declared on demand, the nodes are spot",
        "declared spot, GKE nodes without the spot label are on demand",
        "an extended resource declared but absent",
        "an extended resource present but undeclared",
    ],
)
def test_each_drift_is_one_line_naming_the_pool_and_its_nodes(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    change: Callable[[dict[str, Doc]], None],
    line: str,
) -> None:
    nodes = {p: [gke_node(p, i)["metadata"]["name"] for i in range(2)]
             for p in ("spot-cpu", "default-pool", "gpu-pool")}  # fmt: skip
    names = {
        key: ", ".join(f"node {n}" for n in sorted(nodes[pool]))
        for key, pool in (("spot", "spot-cpu"), ("default", "default-pool"), ("gpu", "gpu-pool"))
    }
    policies = example_set(tmp_path, "gke", change)
    listing = nodes_file(tmp_path, node_list(gke_cluster()))
    code, _, err = run(capsys, "check", str(policies), "--nodes", listing)
    assert code == 1
    assert drift_lines(err) == [line.format(**names)]
    code, _, err = run(capsys, "check", str(policies), "--nodes", listing, "--drift", "warn")
    assert code == 0
    assert f"warning: drift: {line.format(**names)}" in err.splitlines()


def test_karpenter_pools_are_compared_with_their_nodepools_templates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The gpu NodePool has no node: its template stands for the nodes it will launch. The
    managed node group Karpenter itself runs on is not in the example's set."""
    nodes, nodepools = karpenter_cluster()
    listing = nodes_file(tmp_path, node_list(nodes, *nodepools))
    karpenter_example = str(SHIPPED_POLICIES / "examples" / "karpenter" / "policies.yaml")
    code, out, err = run(capsys, "check", karpenter_example, "--nodes", listing)
    assert code == 1
    assert drift_lines(err) == [
        "node ip-10-0-0-5.ec2.internal, node ip-10-0-0-6.ec2.internal "
        "(eks.amazonaws.com/nodegroup=karpenter): no declared pool's labels select them"
    ]
    assert "warning: pool gpu" not in err  # the template carries the gpu pools' labels
    assert "5 nodes and 2 Karpenter NodePools compared with 4 node pools" in out

    def no_gpu_taint(pools: dict[str, Doc]) -> None:
        pools["gpu-spot"]["spec"].pop("nodeTaints")

    code, _, err = run(capsys, "check", str(example_set(tmp_path, "karpenter", no_gpu_taint)),
                       "--nodes", listing, "--drift", "warn")  # fmt: skip
    assert code == 0
    assert (
        "pool gpu-spot: Karpenter NodePool gpu (spot) carry the taint nvidia.com/gpu=true:"
        "NoSchedule, which it does not declare"
    ) in drift_lines(err.replace("warning: drift: ", "error: drift: "))


def test_a_kubeadm_control_plane_node_is_not_drift(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    control_plane = node(
        "cp-1",
        {"node-role.kubernetes.io/control-plane": ""},
        provider_id="x",
        taints=[("node-role.kubernetes.io/control-plane", "", "NoSchedule")],
    )
    code, _, err = run(
        capsys,
        "check",
        str(SHIPPED_POLICIES / "examples" / "aks" / "policies.yaml"),
        "--nodes",
        nodes_file(tmp_path, node_list([*aks_cluster(), control_plane])),
    )
    assert (code, drift_lines(err)) == (0, [])


def test_nodes_that_cannot_be_read_are_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "nodes.json").write_text('{"kind": "List", "items": [{"kind": "Node"')
    code, out, err = run(
        capsys, "check", str(SHIPPED_POLICIES), "--nodes", str(tmp_path / "nodes.json")
    )
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {tmp_path / 'nodes.json'}, document 1: invalid JSON: ")
    assert len(err.splitlines()) == 1
