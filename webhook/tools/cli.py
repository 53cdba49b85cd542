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
from webhook.tools.cluster.api import ClusterError
from webhook.tools.cluster.command import pools_command
from webhook.tools.inputs import DocumentError, read_inputs
from webhook.tools.preview.command import preview_command
from webhook.workloads import kind_of

if TYPE_CHECKING:
    from webhook.serving.serve import ServeOptions

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def default_policies() -> Path:
    """The shipped policy set: `policies/` in a checkout, packaged as `webhook/defaults`."""
    return PACKAGE_DIR / "defaults"


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
        proof_classes=args.proof_classes,
        audit=args.audit,
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


def _read_pod(path: str) -> Any:
    """The one object of a pod file, read as preview reads its inputs (the safe YAML reader,
    or JSON); DocumentError when it cannot be."""
    items = list(read_inputs([path], sys.stdin))
    if len(items) != 1:
        raise DocumentError(f"{path}: holds {len(items)} objects, not one pod")
    return items[0].obj


def cmd_mutate(args: argparse.Namespace) -> int:
    try:
        compiled = _load(args.policies)
    except PolicyError as exc:
        return _fail(str(exc))
    try:
        pod = _read_pod(args.pod)
    except DocumentError as exc:
        return _fail(f"cannot read the pod: {exc}")
    if not isinstance(pod, dict):
        return _fail(f"{args.pod} is not a Pod manifest")
    namespace = args.namespace or str((pod.get("metadata") or {}).get("namespace") or "default")
    try:
        namespace_labels = _parse_labels(args.namespace_labels)
    except ValueError as exc:
        return _fail(str(exc))
    if kind_of(pod) is not None:  # a Job, CronJob or Argo workflow: the retries it gains
        from webhook.tools.retries import mutate_workload

        output = "explain" if args.explain else "patch" if args.patch else "yaml"
        color = _use_color(args.color)
        return mutate_workload(compiled, pod, namespace, namespace_labels, output, color)
    if pod.get("kind", "Pod") != "Pod":
        return _fail(f"{args.pod} is not a Pod, Job, CronJob or Argo workflow manifest")
    result = mutate(compiled, pod, namespace, namespace_labels, explain=args.explain)
    if args.explain:
        from webhook.serving.admission import reads_namespace_labels
        from webhook.tools.explain import render_explain

        color = _use_color(args.color)
        reads = reads_namespace_labels(compiled)
        text = render_explain(
            pod,
            result,
            color,
            namespace,
            namespace_labels,
            reads_namespace_labels=reads,
            set_audited=compiled.settings.mode == "audit",
        )
        sys.stdout.write(text)
    elif args.patch:
        sys.stdout.write(json.dumps(result.ops, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(_plain(result), sort_keys=False))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if compiled.settings.mode == "audit" and not args.explain:
        from webhook.tools.explain import AUDITED_SET

        print(f"note: {AUDITED_SET}", file=sys.stderr)
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    try:
        namespace_labels = _parse_labels(args.namespace_labels)
    except ValueError as exc:
        return _fail(str(exc))
    policies = [Path(p) for p in args.policies] or [default_policies()]
    return preview_command(args, namespace_labels, policies)


def _plain(result: Result) -> Any:
    return orjson.loads(orjson.dumps(result.pod))


def _use_color(choice: str) -> bool:
    return choice == "always" or (choice == "auto" and sys.stdout.isatty())


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 when the set loads, its placements are proven and (with --nodes or --cluster)
    its pools are the nodes'; 1 otherwise (drift only with --drift=error)."""
    from webhook.proof import prove_placement
    from webhook.tools.cluster.command import check_drift, read_fleet
    from webhook.workloads.proof import prove_retries

    try:
        policy_set = load_policy_set([Path(p) for p in args.paths])
    except PolicyError as exc:
        return _fail(str(exc))
    fleet = None
    if args.nodes or args.cluster:
        try:
            fleet = read_fleet(args, args.nodes, sys.stdin)
        except ClusterError as exc:
            return _fail(str(exc))
    compiled = compile_policy_set(policy_set)
    proof = prove_placement(compiled)
    retries = prove_retries(compiled)
    for warning in [*proof.warnings, *retries.warnings]:
        print(f"warning: {warning}", file=sys.stderr)
    if proof.problems:
        if fleet is not None:
            check_drift(policy_set.pools, fleet, args.drift)
        return _fail("\n".join([*map(str, proof.problems), proof.summary()]))
    print(
        f"ok: {len(policy_set.policies)} policies, {len(policy_set.pools)} node pools in "
        f"{len(policy_set.sources)} files (digest {policy_set.digest})"
    )
    print(proof.summary())
    print(retries.summary())
    drifted = fleet is not None and check_drift(policy_set.pools, fleet, args.drift)
    return 1 if drifted else 0


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(policy_json_schema(), indent=2) + "\n")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from webhook.tools.policytest import policy_test_json_schema, run_tests
    from webhook.tools.policytest_report import render_report

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
            "pools": pools_command,
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
