"""`placement-webhook pools`, and what `check` and `preview` share to read a cluster: the
`--cluster` flags and the nodes they compare."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from webhook.kube.nodes import NodeError
from webhook.policy.pools import NodePool
from webhook.tools.cluster.api import CHUNK_SIZE, Cluster, ClusterError
from webhook.tools.cluster.discover import discover
from webhook.tools.cluster.drift import find_drift
from webhook.tools.cluster.fleet import Fleet, fleet_from_cluster, fleet_of
from webhook.tools.cluster.render import render_nodepools
from webhook.tools.inputs import DocumentError, read_inputs

DRIFT = ("error", "warn")


def add_cluster_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--cluster",
        action="store_true",
        help=f"read {what} from the cluster's API (the kubeconfig, or in a pod its service "
        "account); read-only, see docs/install.md for the RBAC",
    )
    parser.add_argument("--kubeconfig", help="with --cluster: this kubeconfig file")
    parser.add_argument("--context", help="with --cluster: this kubeconfig context")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=CHUNK_SIZE,
        metavar="N",
        help=f"with --cluster: objects per page of a list (default {CHUNK_SIZE})",
    )


def connect(args: argparse.Namespace) -> Cluster:
    if args.chunk_size < 1:
        raise ClusterError("--chunk-size must be at least 1")
    return Cluster.connect(args.kubeconfig, args.context, args.chunk_size)


def add_pools_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE",
        help="Nodes and Karpenter NodePools, YAML or JSON (kubectl get nodes -o json; with "
        "Karpenter, kubectl get nodes,nodepools.karpenter.sh -o json); - for stdin",
    )
    parser.add_argument(
        "--group-by",
        metavar="LABEL",
        help="group nodes by this label (default: the provider's pool label: EKS, GKE, AKS, "
        "eksctl, Karpenter)",
    )
    add_cluster_arguments(parser, "Nodes and Karpenter NodePools")


def read_fleet(args: argparse.Namespace, paths: Sequence[str], stdin: TextIO) -> Fleet:
    """The nodes of `paths`, or with --cluster of the API; one-line errors raised."""
    if args.cluster:
        return fleet_from_cluster(connect(args))
    try:
        return fleet_of(read_inputs(paths, stdin))
    except (DocumentError, NodeError) as exc:
        raise ClusterError(str(exc)) from None


def pools_command(args: argparse.Namespace) -> int:
    """Print NodePool documents read from the nodes; exit 1 with one line if they cannot be
    read."""
    if bool(args.inputs) == bool(args.cluster):
        print("error: give the files of Nodes, or --cluster", file=sys.stderr)
        return 2
    try:
        fleet = read_fleet(args, args.inputs, sys.stdin)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not fleet.nodes and not fleet.templates:
        print("error: no Node and no Karpenter NodePool in the input", file=sys.stderr)
        return 1
    discovery = discover(fleet, args.group_by)
    sys.stdout.write(render_nodepools(discovery, fleet))
    if discovery.ungrouped:
        names = ", ".join(discovery.ungrouped[:5])
        print(
            f"warning: {len(discovery.ungrouped)} nodes have no pool label and are in no pool "
            f"({names}); name one with --group-by",
            file=sys.stderr,
        )
    return 0


def check_drift(pools: Mapping[str, NodePool], fleet: Fleet, drift_mode: str) -> bool:
    """Print the drift between the pools and the nodes; True when it fails the check."""
    drift = find_drift(pools, fleet)
    for line in drift.empty:
        print(f"warning: {line}", file=sys.stderr)
    prefix = "error" if drift_mode == "error" else "warning"
    for line in drift.findings:
        print(f"{prefix}: drift: {line}", file=sys.stderr)
    summary = f"nodes: {fleet.describe()} compared with {len(pools)} node pools: "
    count = len(drift.findings)
    print(summary + (f"{count} difference{'s' if count != 1 else ''}" if count else "no drift"))
    return bool(drift.findings) and drift_mode == "error"
