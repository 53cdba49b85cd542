"""`placement-webhook`: serve, mutate a pod offline, check policies, print the policy schema."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from webhook.engine import Result, compile_policy_set, mutate
from webhook.errors import PolicyError
from webhook.policy.load import load_policy_set
from webhook.policy.schema import policy_json_schema

PACKAGE_DIR = Path(__file__).resolve().parent


def default_policies() -> Path:
    """The shipped policy set: `policies/` in a checkout, packaged as `webhook/defaults`."""
    return PACKAGE_DIR / "defaults"


def _read_input(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    from webhook.certs import ensure_dev_certificate
    from webhook.connections import ConnectionLimits
    from webhook.logs import configure_logging
    from webhook.server import ServeOptions, run

    configure_logging(args.log_level)
    if args.workers < 1:
        return _fail("--workers must be at least 1")
    if bool(args.cert_file) != bool(args.key_file):
        return _fail("--cert-file and --key-file go together")
    if args.cert_file:
        cert, key = Path(args.cert_file), Path(args.key_file)
    else:
        cert, key, ca = ensure_dev_certificate(Path(args.certs_dir))
        logging.getLogger("webhook").info(
            "no --cert-file given: using the development certificate in %s (CA: %s)",
            args.certs_dir,
            ca,
        )
    options = ServeOptions(
        policies=[Path(p) for p in args.policies] or [default_policies()],
        cert_file=cert,
        key_file=key,
        host=args.host,
        port=args.port,
        health_port=args.health_port or None,
        log_level=args.log_level,
        read_timeout=args.read_timeout,
        floor_route=args.floor_route,
        policy_poll_seconds=args.policy_poll_seconds,
        cert_poll_seconds=args.cert_poll_seconds,
        namespace_labels_from_cluster=args.namespace_labels_from_cluster,
        connections=ConnectionLimits(
            handshake_timeout=args.tls_handshake_timeout,
            write_timeout=args.write_timeout,
            max_connections=args.max_connections,
        ),
    )
    try:
        if args.workers > 1:
            from webhook.workers import serve_workers

            return serve_workers(options, args.workers)
        run(options)
    except PolicyError as exc:
        return _fail(str(exc))
    return 0


def _load(policies: Sequence[str]) -> Any:
    return compile_policy_set(load_policy_set([Path(p) for p in policies] or [default_policies()]))


def _parse_labels(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    pairs = [p for p in text.split(",") if p]
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--namespace-labels takes k=v pairs, got {pair!r}")
        out[key] = value
    return out


def cmd_mutate(args: argparse.Namespace) -> int:
    try:
        compiled = _load(args.policies)
    except PolicyError as exc:
        return _fail(str(exc))
    try:
        pod = yaml.safe_load(_read_input(args.pod))
    except (OSError, yaml.YAMLError) as exc:
        return _fail(f"cannot read pod {args.pod}: {exc}")
    if not isinstance(pod, dict) or pod.get("kind", "Pod") != "Pod":
        return _fail(f"{args.pod} is not a Pod manifest")
    namespace = args.namespace or str((pod.get("metadata") or {}).get("namespace") or "default")
    try:
        namespace_labels = _parse_labels(args.namespace_labels)
    except ValueError as exc:
        return _fail(str(exc))
    result = mutate(compiled, pod, namespace, namespace_labels, explain=args.explain)
    if args.explain:
        from webhook.explain import render_explain

        color = _use_color(args.color)
        sys.stdout.write(render_explain(pod, result, color, namespace, namespace_labels))
    elif args.patch:
        sys.stdout.write(json.dumps(result.ops, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(_plain(result), sort_keys=False))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _plain(result: Result) -> Any:
    return orjson.loads(orjson.dumps(result.pod))


def _use_color(choice: str) -> bool:
    return choice == "always" or (choice == "auto" and sys.stdout.isatty())


def cmd_check(args: argparse.Namespace) -> int:
    try:
        policy_set = load_policy_set([Path(p) for p in args.paths])
    except PolicyError as exc:
        return _fail(str(exc))
    print(
        f"ok: {len(policy_set.policies)} policies in {len(policy_set.sources)} files "
        f"(digest {policy_set.digest})"
    )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(policy_json_schema(), indent=2) + "\n")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from webhook.policytest import policy_test_json_schema, render_report, run_tests

    if args.schema:
        sys.stdout.write(json.dumps(policy_test_json_schema(), indent=2) + "\n")
        return 0
    if not args.paths:
        return _fail("give the policy test files or the directories that hold them", 2)
    try:
        results = run_tests([Path(p) for p in args.paths])
    except PolicyError as exc:
        return _fail(str(exc))
    sys.stdout.write(render_report(results, color=_use_color(args.color)))
    return 0 if all(r.passed for r in results) else 1


def cmd_certs(args: argparse.Namespace) -> int:
    from webhook.certs import write_cluster_certificates

    written = write_cluster_certificates(
        args.service, args.namespace, Path(args.out), new_ca=args.new_ca
    )
    for path in written:
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="placement-webhook",
        description="Kubernetes mutating admission webhook that places pods by policy.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the webhook over HTTPS")
    serve.add_argument(
        "--policies",
        action="append",
        default=[],
        metavar="PATH",
        help="policy file or directory (repeatable; default: the shipped set)",
    )
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument(
        "--health-port",
        type=int,
        default=8080,
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
        "--policy-poll-seconds",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often the policy files are checked for changes (0: never reload)",
    )
    serve.add_argument(
        "--cert-poll-seconds",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often the certificate and key are checked for changes (0: never reload)",
    )
    serve.add_argument(
        "--read-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a request whose head or body is not received in time gets 408",
    )
    serve.add_argument(
        "--tls-handshake-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a connection whose TLS handshake is not done in time is closed",
    )
    serve.add_argument(
        "--write-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="a client that reads none of a waiting answer for this long is cut off",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=1000,
        metavar="N",
        help="open connections per worker on the webhook port; more are closed at once",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes answering on the same ports: one per core the pod may use",
    )
    # The benchmark's no-op endpoint (POST /floor); never on in a deployment.
    serve.add_argument("--floor-route", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    mut = sub.add_parser("mutate", help="apply the policies to a pod manifest offline")
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
    mut.set_defaults(func=cmd_mutate)

    check = sub.add_parser("check", help="validate policy files")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.set_defaults(func=cmd_check)

    schema = sub.add_parser("schema", help="print the policy JSON Schema")
    schema.set_defaults(func=cmd_schema)

    test = sub.add_parser(
        "test", help="run the policy tests (*.test.yaml) under directories; exit 1 on failure"
    )
    test.add_argument("paths", nargs="*", metavar="PATH", help="test file or directory")
    test.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    test.add_argument(
        "--schema", action="store_true", help="print the JSON Schema of a test file instead"
    )
    test.set_defaults(func=cmd_test)

    certs = sub.add_parser("certs", help="make a CA and a serving certificate for a cluster")
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
    certs.set_defaults(func=cmd_certs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
