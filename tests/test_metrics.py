"""`/metrics` on the health port of the real server (uvicorn, TLS on the webhook port), read with
prometheus-client's own parser after sending reviews as the apiserver would."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from tests.kube import kubectl
from tests.scraping import (
    client,
    eventually,
    gpu_step,
    plain_pod,
    pod_review,
    response_of,
    scrape,
    send,
    value,
)
from tests.servers import RunningServer, running_server
from tests.test_reload import new_pki, serial_of, tls_volume
from webhook import __version__
from webhook.policy.load import load_policy_set
from webhook.serving.admission import Outcome
from webhook.serving.connections import HEALTH_LIMITS, ConnectionLimits, PortConnections
from webhook.serving.metrics import LATENCY_BUCKETS, Metrics
from webhook.serving.namespaces import NamespaceView
from webhook.serving.serve import load_store

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "policies"
MONITORING = REPO / "deploy" / "monitoring"
SHIPPED_COUNT = len(load_policy_set(SHIPPED).policies)

AUDIT_POLICY = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata:
  name: team-label-audit
spec:
  mode: audit
  order: 950
  match:
    namespaces: [ml]
  add:
    labels: {team: ml}
"""

EXTRA_POLICY = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata:
  name: cost-center
spec:
  order: 960
  match:
    namespaces: [finance]
  add:
    labels: {cost-center: finance}
"""


def copy_shipped(to: Path) -> Path:
    to.mkdir()
    for source in SHIPPED.glob("*.yaml"):
        if not source.name.endswith(".test.yaml"):
            shutil.copy(source, to / source.name)
    return to


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("metrics")
    policies = copy_shipped(tmp / "policies")
    (policies / "95-audit.yaml").write_text(AUDIT_POLICY)
    with running_server(tmp, [policies], ["--policy-poll-seconds", "0.2"]) as running:
        yield running


@pytest.fixture(scope="module")
def after_reviews(server: RunningServer) -> dict[str, float]:
    """Sends 2 patched, 1 unchanged, 1 skipped and 1 invalid review; returns what it sent."""
    with client(server) as http:
        for _ in range(2):
            answer = response_of(send(http, pod_review(gpu_step(), "ml")))
            assert answer["patchType"] == "JSONPatch"
        assert "patch" not in response_of(send(http, pod_review(plain_pod(), "kube-system")))
        assert "patch" not in response_of(
            send(http, pod_review(gpu_step(), "ml", operation="UPDATE"))
        )
        assert send(http, b'{"kind": "AdmissionReview"}').status_code == 400
    return {"patched": 2, "unchanged": 1, "skipped": 1, "error": 0, "invalid": 1}


def test_requests_are_counted_by_result(server: RunningServer, after_reviews: dict[str, float]):
    types, samples = scrape(server)
    assert types["placement_webhook_reviews"] == "counter"
    for result, sent in after_reviews.items():
        assert value(samples, "placement_webhook_reviews_total", result=result) == sent


def test_latency_histogram_spans_sub_millisecond_to_seconds(
    server: RunningServer, after_reviews: dict[str, float]
):
    types, samples = scrape(server)
    assert types["placement_webhook_review_duration_seconds"] == "histogram"
    name = "placement_webhook_review_duration_seconds"
    assert value(samples, f"{name}_count") == sum(after_reviews.values())
    bounds = sorted(
        float(dict(labels)["le"]) for sample, labels in samples if sample == f"{name}_bucket"
    )
    assert bounds[0] <= 0.0001, "a bucket below a millisecond"
    assert 10.0 in bounds, "a bucket at seconds (the apiserver timeout range)"
    assert value(samples, f"{name}_bucket", le="+Inf") == sum(after_reviews.values())
    assert tuple(b for b in bounds if b != float("inf")) == LATENCY_BUCKETS


def test_patches_and_audits_are_counted_by_policy(
    server: RunningServer, after_reviews: dict[str, float]
):
    _, samples = scrape(server)
    patches = "placement_webhook_policy_patches_total"
    assert value(samples, patches, policy="batch-gpu-spot") == 2
    assert value(samples, patches, policy="extended-resource-tolerations") == 2
    assert value(samples, patches, policy="default-pool") == 0, "listed before it ever fires"
    assert value(samples, "placement_webhook_policy_audits_total", policy="team-label-audit") == 2
    assert value(samples, patches, policy="team-label-audit") == 0, "audit applies nothing"


def test_policy_errors_have_a_series_per_policy(
    server: RunningServer, after_reviews: dict[str, float]
):
    _, samples = scrape(server)
    names = [p.name for p in load_policy_set(SHIPPED).policies] + ["team-label-audit"]
    for name in names:
        assert value(samples, "placement_webhook_policy_errors_total", policy=name) == 0


def test_policy_errors_count_the_failed_policy():
    store = load_store([SHIPPED])
    metrics = Metrics(store)
    outcome = Outcome("uid", "ml", "train-", "patched", applied=["workflow-dns"])
    outcome.failed = ["batch-gpu-spot"]
    metrics.observe_review(outcome, 0.001)
    metrics.observe_review(outcome, 0.001)
    samples = _parse(metrics.render())
    assert value(samples, "placement_webhook_policy_errors_total", policy="batch-gpu-spot") == 2
    assert value(samples, "placement_webhook_policy_errors_total", policy="workflow-dns") == 0


def test_loaded_set_hash_and_count_match_readyz(server: RunningServer):
    ready = httpx.get(server.health_url + "/readyz").json()
    types, samples = scrape(server)
    assert ready["version"] == __version__ and ready["mode"] == "enforce"
    assert value(samples, "placement_webhook_build_info", version=__version__) == 1
    assert value(samples, "placement_webhook_audit_mode") == 0
    assert types["placement_webhook_policy_set_info"] == "gauge"
    assert value(samples, "placement_webhook_policy_set_info", digest=ready["digest"]) == 1
    assert value(samples, "placement_webhook_policies_loaded") == ready["policies"]


def test_reloads_count_failures_and_successes(server: RunningServer, tmp_path: Path):
    policies = Path(server.log_file.parent / "policies")
    before_digest = httpx.get(server.health_url + "/readyz").json()["digest"]
    _, samples = scrape(server)
    failures = value(samples, "placement_webhook_policy_reloads_total", result="failure")
    successes = value(samples, "placement_webhook_policy_reloads_total", result="success")

    broken = policies / "96-broken.yaml"
    broken.write_text(EXTRA_POLICY.replace("labels:", "labelz:"))

    def refused() -> bool:
        _, now = scrape(server)
        return (
            value(now, "placement_webhook_policy_reloads_total", result="failure") > failures
            and value(now, "placement_webhook_policy_reload_failing") == 1
        )

    eventually(refused, "the invalid policy file is refused and counted")
    _, samples = scrape(server)
    assert value(samples, "placement_webhook_policy_set_info", digest=before_digest) == 1

    broken.unlink()
    (policies / "96-cost-center.yaml").write_text(EXTRA_POLICY)

    def reloaded() -> bool:
        _, now = scrape(server)
        return (
            value(now, "placement_webhook_policy_reloads_total", result="success") > successes
            and value(now, "placement_webhook_policy_reload_failing") == 0
            and value(now, "placement_webhook_policies_loaded") == SHIPPED_COUNT + 2
        )

    eventually(reloaded, "the fixed policy set is loaded")
    ready = httpx.get(server.health_url + "/readyz").json()
    assert ready["digest"] != before_digest
    _, samples = scrape(server)
    assert value(samples, "placement_webhook_policy_set_info", digest=ready["digest"]) == 1
    assert ("placement_webhook_policy_set_info", (("digest", before_digest),)) not in samples


def test_namespace_view_series():
    view = NamespaceView()
    metrics = Metrics(load_store([SHIPPED]), view)
    samples = _parse(metrics.render())
    assert value(samples, "placement_webhook_namespace_view_synced") == 0
    assert view.lookup("ml")[0] is None
    view.replace({"ml": {"team": "ml"}}, "7")
    assert view.lookup("ml")[0] == {"team": "ml"}
    samples = _parse(metrics.render())
    assert value(samples, "placement_webhook_namespace_view_synced") == 1
    assert value(samples, "placement_webhook_namespace_view_namespaces") == 1
    assert value(samples, "placement_webhook_namespace_view_relists_total") == 1
    assert value(samples, "placement_webhook_namespace_labels_unknown_total") == 1


def test_workers_share_one_set_of_counters(tmp_path: Path):
    """With --workers 2 the health port reaches either worker; PROMETHEUS_MULTIPROC_DIR makes
    every scrape report the reviews of both."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with running_server(tmp_path, [SHIPPED], ["--workers", "2"], env=env) as server:
        sent = 12
        for _ in range(sent):  # a new connection each time: the kernel picks a worker each time
            with client(server) as http:
                response_of(send(http, pod_review(gpu_step(), "ml")))
        for _ in range(6):
            _, samples = scrape(server)
            assert value(samples, "placement_webhook_reviews_total", result="patched") == sent
            assert value(samples, "placement_webhook_review_duration_seconds_count") == sent
            assert value(samples, "placement_webhook_policies_loaded") == SHIPPED_COUNT
        pids = {p.name.split("_")[-1] for p in directory.glob("*.db")}
    assert len(pids) >= 2, "both workers wrote their counters"


def test_certificate_expiry_and_reloads(tmp_path: Path):
    pki = new_pki()
    first = pki.leaf()
    volume, reloader = tls_volume(tmp_path / "tls", pki, first)
    metrics = Metrics(load_store([SHIPPED]))
    metrics.watch_certificates(reloader)

    def series() -> tuple[float, float, float, float]:
        samples = _parse(metrics.render())
        return (
            samples[("placement_webhook_certificate_expiry_timestamp_seconds", ())],
            samples[("placement_webhook_certificate_reload_failing", ())],
            samples[("placement_webhook_certificate_reloads_total", (("result", "success"),))],
            samples[("placement_webhook_certificate_reloads_total", (("result", "failure"),))],
        )

    def expiry(leaf: Any) -> float:
        return x509.load_pem_x509_certificate(leaf.cert_pem).not_valid_after_utc.timestamp()

    assert series() == (expiry(first), 0, 0, 0)
    volume.write({**pki.secret(first), "tls.crt": b"not a certificate"})
    assert reloader.check() is False
    assert series() == (expiry(first), 1, 0, 1)
    second = pki.leaf()
    volume.write(pki.secret(second))
    assert reloader.check() is True and reloader.current.serial == serial_of(second)
    assert series() == (expiry(second), 0, 1, 1)


def test_monitoring_queries_name_only_exported_metrics(tmp_path: Path):
    """The dashboard and the alerts must not drift from the metric names."""
    ports = [
        PortConnections("webhook", ConnectionLimits()),
        PortConnections("health", HEALTH_LIMITS),
    ]
    metrics = Metrics(load_store([SHIPPED]), NamespaceView(), ports)
    pki = new_pki()
    metrics.watch_certificates(tls_volume(tmp_path / "tls", pki, pki.leaf())[1])
    loaded = "default-pool"  # series of policies not in the set are dropped at the scrape
    outcome = Outcome(
        "uid", "ml", "p", "patched", applied=[loaded], audited=[loaded], failed=[loaded]
    )
    outcome.refused = [loaded]
    outcome.skipped = [loaded]
    metrics.observe_review(outcome, 0.001)
    exported = {name for name, _ in _parse(metrics.render())}
    used: set[str] = set()
    for path in MONITORING.rglob("*"):
        if path.suffix in (".json", ".yaml"):
            used |= set(re.findall(r"placement_webhook_[a-z_]+", path.read_text()))
    assert used, "deploy/monitoring/ has queries"
    assert used <= exported, f"unknown metrics in deploy/monitoring: {sorted(used - exported)}"


def test_prometheus_rule_has_the_alerts():
    rule = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    exprs = " ".join(a["expr"] for a in alerts.values())
    for metric in (
        "placement_webhook_reviews_total",
        "placement_webhook_policy_errors_total",
        "placement_webhook_policy_reload_failing",
        "placement_webhook_review_duration_seconds_bucket",
        "placement_webhook_namespace_view_synced",
    ):
        assert metric in exprs, f"no alert on {metric}"
    for alert in alerts.values():
        assert alert["labels"]["severity"] in ("info", "warning", "critical")
        assert alert["annotations"]["summary"]


def test_monitoring_kustomization_renders():
    rendered = subprocess.run(
        [kubectl(), "kustomize", str(MONITORING)], capture_output=True, text=True, check=True
    ).stdout
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered)}
    assert set(docs) == {"ConfigMap", "PodMonitor", "PrometheusRule"}
    dashboard = json.loads(docs["ConfigMap"]["data"]["grafana-dashboard.json"])
    assert docs["ConfigMap"]["metadata"]["labels"]["grafana_dashboard"] == "1"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert any("placement_webhook_review_duration_seconds_bucket" in e for e in exprs)
    endpoint = docs["PodMonitor"]["spec"]["podMetricsEndpoints"][0]
    assert (endpoint["port"], endpoint["path"]) == ("health", "/metrics")


def _parse(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_series_of_policies_no_longer_loaded_are_dropped(tmp_path: Path):
    """A set renamed on every release must not add its policies' series until a restart."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "a.yaml").write_text(_named_policy("release-1"))
    store = load_store([policies])
    metrics = Metrics(store)
    metrics.observe_review(Outcome("uid", "ml", "p", "patched", applied=["release-1"]), 0.001)
    (policies / "a.yaml").write_text(_named_policy("release-2"))
    assert store.reload()
    samples = _parse(metrics.render())
    assert value(samples, "placement_webhook_policy_patches_total", policy="release-2") == 0
    assert not [k for k in samples if ("policy", "release-1") in k[1]]


def _named_policy(name: str) -> str:
    return (
        "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"
        f"metadata: {{name: {name}}}\nspec: {{add: {{labels: {{a: b}}}}}}\n"
    )


# Each counter an alert reads with increase(), per policy: a series that appears only at its
# first event (at 1) shows no increase, and that first event never alerts
# (tests/prometheus/alerts.test.yaml, "born-at-one").
PER_POLICY_COUNTERS = (
    "placement_webhook_policy_patches_total",
    "placement_webhook_policy_errors_total",
    "placement_webhook_policy_invalid_total",
    "placement_webhook_placement_refused_total",
)


def test_every_per_policy_counter_starts_at_zero_for_every_loaded_policy():
    loaded = load_policy_set(SHIPPED)
    assert loaded.pools, "the shipped set declares NodePools: its placements can be refused"
    samples = _parse(Metrics(load_store([SHIPPED])).render())
    for counter in PER_POLICY_COUNTERS:
        for policy in loaded.policies:
            assert samples.get((counter, (("policy", policy.name),))) == 0, (counter, policy.name)
    audits = [k for k in samples if k[0] == "placement_webhook_policy_audits_total"]
    assert audits == [], "no audit-mode policy, no audit series"


def test_every_review_result_starts_at_zero():
    samples = _parse(Metrics(load_store([SHIPPED])).render())
    for result in ("patched", "unchanged", "skipped", "error", "invalid", "audited"):
        assert samples[("placement_webhook_reviews_total", (("result", result),))] == 0


def test_audit_series_start_at_zero_for_audit_policies_and_for_every_policy_of_an_audited_set(
    tmp_path: Path,
):
    policies = copy_shipped(tmp_path / "policies")
    (policies / "95-audit.yaml").write_text(AUDIT_POLICY)
    audit = "placement_webhook_policy_audits_total"
    samples = _parse(Metrics(load_store([policies])).render())
    assert [k[1] for k in samples if k[0] == audit] == [(("policy", "team-label-audit"),)]
    samples = _parse(Metrics(load_store([policies], audit=True)).render())
    for policy in load_policy_set(policies).policies:
        assert samples[(audit, (("policy", policy.name),))] == 0


def test_a_set_without_pools_has_no_refused_series(tmp_path: Path):
    """Only a set with NodePools can refuse a placement (the guard judges against them)."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "a.yaml").write_text(_named_policy("no-pools"))
    samples = _parse(Metrics(load_store([policies])).render())
    assert not [k for k in samples if k[0] == "placement_webhook_placement_refused_total"]
    assert samples[("placement_webhook_policy_patches_total", (("policy", "no-pools"),))] == 0


def test_the_judgements_counters_have_their_zero_series_from_the_start(tmp_path: Path):
    """So that the first refusal, or the first skipped policy, is an increase an alert sees."""
    policies = tmp_path / "policies"
    shutil.copytree(SHIPPED, policies, ignore=shutil.ignore_patterns("examples", "*.test.yaml"))
    (policies / "50-team.yaml").write_text(
        "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"
        "metadata: {name: team-ml}\nspec:\n  match:\n    namespaceSelector:\n"
        "      matchLabels: {team: ml}\n  add:\n    labels: {team: ml}\n"
    )
    samples = _parse(Metrics(load_store([policies]), NamespaceView()).render())
    for intent in ("runnable", "resources", "off-spot"):
        by_intent = "placement_webhook_placement_refused_by_intent_total"
        assert samples[(by_intent, (("intent", intent),))] == 0
    assert samples[("placement_webhook_policy_skipped_total", (("policy", "team-ml"),))] == 0
    assert ("placement_webhook_policy_skipped_total", (("policy", "default-pool"),)) not in samples
    assert samples[("placement_webhook_namespace_direct_reads_total", ())] == 0
