"""The command line's arguments: one function per subcommand."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from webhook import __version__
from webhook.serving import defaults
from webhook.tools.cluster.command import DRIFT, add_cluster_arguments, add_pools_arguments
from webhook.tools.preview.command import add_preview_arguments

Command = Callable[[argparse.Namespace], int]
Subparsers = Any  # argparse's _SubParsersAction, private to argparse


def build_parser(commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="placement-webhook",
        description="Kubernetes mutating admission webhook that places pods by policy.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_serve, _mutate, _preview, _pools, _check, _schema, _test, _certs):
        command = add(sub)
        command.set_defaults(func=commands[command.prog.rsplit(" ", 1)[-1]])
    return parser


def _serve(sub: Subparsers) -> argparse.ArgumentParser:
    serve: argparse.ArgumentParser = sub.add_parser("serve", help="serve the webhook over HTTPS")
    serve.add_argument(
        "--policies",
        action="append",
        default=[],
        metavar="PATH",
        help="policy file or directory (repeatable; default: the shipped set)",
    )
    serve.add_argument("--host", default=defaults.HOST)
    serve.add_argument("--port", type=int, default=defaults.PORT, help="HTTPS port for /mutate")
    serve.add_argument(
        "--health-port",
        type=int,
        default=defaults.HEALTH_PORT,
        help="plain-HTTP port for /healthz, /readyz (0: none)",
    )
    serve.add_argument("--cert-file")
    serve.add_argument("--key-file")
    serve.add_argument(
        "--certs-dir",
        default="certs",
        help="where a development certificate is made when no cert is given",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--namespace-labels-from-cluster",
        action="store_true",
        help="list and watch Namespaces (in-cluster service account, else the kubeconfig) so "
        "namespaceSelector clauses can match; needs RBAC get/list/watch on namespaces",
    )
    serve.add_argument(
        "--proof-classes",
        type=int,
        default=defaults.PROOF_CLASSES,
        metavar="N",
        help="pod classes the placement proof tries when a set is loaded (0: none; every pod "
        "is still judged at admission, and `check` tries every class)",
    )
    serve.add_argument(
        "--audit",
        action="store_true",
        help="audit the whole set: answer every review without a patch, reporting what it "
        "would add (as `mode: audit` in PolicySettings; either one audits the set)",
    )
    _serve_timing(serve)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes answering on the same ports: one per core the pod may use",
    )
    # The benchmark's no-op endpoint (POST /floor); never on in a deployment.
    serve.add_argument("--floor-route", action="store_true", help=argparse.SUPPRESS)
    return serve


def _serve_timing(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--policy-poll-seconds",
        type=float,
        default=defaults.POLL_SECONDS,
        metavar="SECONDS",
        help="how often the policy files are checked for changes (0: never reload)",
    )
    serve.add_argument(
        "--cert-poll-seconds",
        type=float,
        default=defaults.POLL_SECONDS,
        metavar="SECONDS",
        help="how often the certificate and key are checked for changes (0: never reload)",
    )
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=defaults.READ_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="a request whose head and body are not received within this time of its first "
        "byte gets 408",
    )
    serve.add_argument(
        "--tls-handshake-timeout",
        type=float,
        default=defaults.HANDSHAKE_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="a connection whose TLS handshake is not done in time is closed",
    )
    serve.add_argument(
        "--write-timeout",
        type=float,
        default=defaults.WRITE_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="a client that reads none of a waiting answer for this long is cut off",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=defaults.MAX_CONNECTIONS,
        metavar="N",
        help="open connections per worker on the webhook port; at the cap room is made for a "
        "new one (the one waiting longest for its client, else the longest idle of the source "
        "holding the most is closed), else it is closed",
    )
    serve.add_argument(
        "--max-connections-per-source",
        type=int,
        default=defaults.MAX_CONNECTIONS_PER_SOURCE,
        metavar="N",
        help="open connections per worker on the webhook port from one address; more are "
        "closed at once",
    )


def _mutate(sub: Subparsers) -> argparse.ArgumentParser:
    mut: argparse.ArgumentParser = sub.add_parser(
        "mutate", help="apply the policies to a pod manifest offline"
    )
    mut.add_argument("pod", help="pod YAML or JSON file, or - for stdin")
    mut.add_argument("--policies", action="append", default=[], metavar="PATH")
    mut.add_argument("--namespace", help="default: the pod's metadata.namespace, else default")
    mut.add_argument(
        "--namespace-labels",
        metavar="K=V,...",
        help="labels of the pod's namespace, for namespaceSelector clauses",
    )
    out = mut.add_mutually_exclusive_group()
    out.add_argument("--patch", action="store_true", help="print the JSON Patch")
    out.add_argument(
        "--explain",
        action="store_true",
        help="show each policy: matched or why not, and what it added",
    )
    mut.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    return mut


def _preview(sub: Subparsers) -> argparse.ArgumentParser:
    prev: argparse.ArgumentParser = sub.add_parser(
        "preview",
        help="apply the policies to many pods and workloads offline; print a table or the pods",
    )
    add_preview_arguments(prev)
    return prev


def _check(sub: Subparsers) -> argparse.ArgumentParser:
    check: argparse.ArgumentParser = sub.add_parser(
        "check", help="validate policy files and prove their placements against their pools"
    )
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.add_argument(
        "--nodes",
        action="append",
        default=[],
        metavar="FILE",
        help="compare the declared pools with these Nodes and Karpenter NodePools (kubectl get "
        "nodes -o json, or nodes,nodepools.karpenter.sh; - for stdin)",
    )
    check.add_argument(
        "--drift",
        choices=DRIFT,
        default="error",
        help="what a difference between pools and nodes is: an error (exit 1, the default) or "
        "a warning",
    )
    add_cluster_arguments(check, "the Nodes and Karpenter NodePools to compare")
    return check


def _pools(sub: Subparsers) -> argparse.ArgumentParser:
    pools: argparse.ArgumentParser = sub.add_parser(
        "pools", help="write NodePool documents read from the cluster's nodes"
    )
    add_pools_arguments(pools)
    return pools


def _schema(sub: Subparsers) -> argparse.ArgumentParser:
    schema: argparse.ArgumentParser = sub.add_parser("schema", help="print the policy JSON Schema")
    return schema


def _test(sub: Subparsers) -> argparse.ArgumentParser:
    test: argparse.ArgumentParser = sub.add_parser(
        "test", help="run the policy tests (*.test.yaml) under directories; exit 1 on failure"
    )
    test.add_argument("paths", nargs="*", metavar="PATH", help="test file or directory")
    test.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    test.add_argument(
        "--schema", action="store_true", help="print the JSON Schema of a test file instead"
    )
    return test


def _certs(sub: Subparsers) -> argparse.ArgumentParser:
    certs: argparse.ArgumentParser = sub.add_parser(
        "certs", help="make a CA and a serving certificate for a cluster"
    )
    certs.add_argument("--service", default="pod-placement-webhook")
    certs.add_argument("--namespace", default="pod-placement-webhook")
    certs.add_argument(
        "--out", default="certs/cluster", help="directory for the files (keep it private)"
    )
    certs.add_argument(
        "--new-ca",
        action="store_true",
        help="make a new CA even if --out has one (the caBundle trusts both until the next run)",
    )
    return certs
