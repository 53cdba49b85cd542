"""`placement-webhook`: serve, mutate a pod or preview many offline, check policies, print the
policy schema."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from webhook.engine import Result, compile_policy_set, mutate
from webhook.errors import PolicyError
from webhook.policy import load_policy_set
from webhook.policy.schema import policy_json_schema
from webhook.tools import arguments
from webhook.tools.preview.command import preview_command

if TYPE_CHECKING:
    from webhook.serving.serve import ServeOptions

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def default_policies() -> Path:
    """The shipped policy set: `policies/` in a checkout, packaged as `webhook/defaults`."""
    return PACKAGE_DIR / "defaults"


def _read_input(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _fail(message: str, code: int = 1) -> int:
    for line in message.splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    from webhook.serving.logs import configure_logging
    from webhook.serving.serve import run
    from webhook.tools.certs import ensure_dev_certificate

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
    options = serve_options(args, cert, key)
    try:
        if args.workers > 1:
            from webhook.serving.workers import serve_workers

            return serve_workers(options, args.workers)
        run(options)
    except PolicyError as exc:
        return _fail(str(exc))
    return 0


def serve_options(args: argparse.Namespace, cert: Path, key: Path) -> ServeOptions:
    """What `serve` runs with, from its parsed command line."""
    from webhook.serving.connections import ConnectionLimits
    from webhook.serving.serve import ServeOptions

    return ServeOptions(
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
            max_per_source=args.max_connections_per_source,
        ),
    )


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
        from webhook.tools.explain import render_explain

        color = _use_color(args.color)
        sys.stdout.write(render_explain(pod, result, color, namespace, namespace_labels))
    elif args.patch:
        sys.stdout.write(json.dumps(result.ops, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(_plain(result), sort_keys=False))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    try:
        namespace_labels = _parse_labels(args.namespace_labels)
    except ValueError as exc:
        return _fail(str(exc))
    policies = [Path(p) for p in args.policies] or [default_policies()]
    return preview_command(args.inputs, policies, args.namespace, namespace_labels, args.output)


def _plain(result: Result) -> Any:
    return orjson.loads(orjson.dumps(result.pod))


def _use_color(choice: str) -> bool:
    return choice == "always" or (choice == "auto" and sys.stdout.isatty())


def cmd_check(args: argparse.Namespace) -> int:
    from webhook.proof import prove_placement

    try:
        policy_set = load_policy_set([Path(p) for p in args.paths])
    except PolicyError as exc:
        return _fail(str(exc))
    proof = prove_placement(compile_policy_set(policy_set))
    for warning in proof.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if proof.problems:
        return _fail("\n".join([*map(str, proof.problems), proof.summary()]))
    print(
        f"ok: {len(policy_set.policies)} policies, {len(policy_set.pools)} node pools in "
        f"{len(policy_set.sources)} files (digest {policy_set.digest})"
    )
    print(proof.summary())
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(policy_json_schema(), indent=2) + "\n")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from webhook.tools.policytest import policy_test_json_schema, render_report, run_tests

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
    from webhook.tools.certs import write_cluster_certificates

    written = write_cluster_certificates(
        args.service, args.namespace, Path(args.out), new_ca=args.new_ca
    )
    for path in written:
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    return arguments.build_parser(
        {
            "serve": cmd_serve,
            "mutate": cmd_mutate,
            "preview": cmd_preview,
            "check": cmd_check,
            "schema": cmd_schema,
            "test": cmd_test,
            "certs": cmd_certs,
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
