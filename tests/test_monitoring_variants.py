"""Monitoring for every kind of Prometheus: prometheus-operator (deploy/monitoring), Google Cloud
Managed Service for Prometheus (deploy/monitoring/gke-managed-prometheus) and a Prometheus
configured by hand (deploy/monitoring/prometheus). Each variant is rendered as a cluster gets
it and checked by the tool that reads it: the GKE objects against the CRDs of
GoogleCloudPlatform/prometheus-engine (tests/crds/), the rule file and the scrape job by
promtool. All three carry the same rules (deploy/monitoring/generate.py writes them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import crd_schema
from tests.overlays import COMPONENTS, DEPLOY, assert_consistent, overlay, rel
from tests.system_tools import require
from tests.test_deploy import Obj, one, render, selects

MONITORING = DEPLOY / "monitoring"
GMP = MONITORING / "gke-managed-prometheus"
PLAIN = MONITORING / "prometheus"
RULE_FILE = PLAIN / "pod-placement-webhook.rules.yaml"
CASES = Path(__file__).resolve().parent / "prometheus" / "alerts.test.yaml"


def source_groups() -> list[Obj]:
    groups: list[Obj] = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())["spec"][
        "groups"
    ]
    return groups


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = require("promtool")["promtool"]
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, check=False)


# --- one source of rules ---------------------------------------------------------------------


def test_every_variants_rules_are_generated_from_the_prometheus_rule() -> None:
    done = subprocess.run(
        [sys.executable, str(MONITORING / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"run `make monitoring`: {done.stderr}"


def test_the_generator_reports_a_stale_file(tmp_path: Path) -> None:
    copy = tmp_path / "monitoring"
    shutil.copytree(MONITORING, copy)
    (copy / "prometheus" / RULE_FILE.name).write_text("groups: []\n")
    command = [sys.executable, str(copy / "generate.py"), "--check"]
    stale = subprocess.run(command, capture_output=True, text=True, check=False)
    assert stale.returncode == 1 and RULE_FILE.name in stale.stderr
    subprocess.run([sys.executable, str(copy / "generate.py")], check=True, capture_output=True)
    assert (copy / "prometheus" / RULE_FILE.name).read_text() == RULE_FILE.read_text()


def test_the_plain_rule_file_holds_the_prometheus_rules_groups() -> None:
    assert yaml.safe_load(RULE_FILE.read_text()) == {"groups": source_groups()}


# --- Google Cloud Managed Service for Prometheus ----------------------------------------------


@pytest.fixture(scope="module")
def gmp() -> list[Obj]:
    return render(GMP)


def test_gke_objects_are_valid_against_the_managed_prometheus_crds(gmp: list[Obj]) -> None:
    assert {o["kind"] for o in gmp} == {"PodMonitoring", "Rules", "ClusterRules"}
    for obj in gmp:
        assert crd_schema.errors(obj) == [], obj["kind"]


def test_the_crd_check_refuses_what_the_apiserver_refuses(gmp: list[Obj]) -> None:
    rules = one(gmp, "Rules")
    both = {"alert": "A", "record": "a:b", "expr": "up"}
    broken = {**rules, "spec": {"groups": [{"name": "g", "rules": [both]}]}}
    assert crd_schema.errors(broken) == [
        "spec.groups.0.rules.0: Must set exactly one of Record or Alert"
    ]
    monitor = one(gmp, "PodMonitoring")
    endpoint = {"port": 0, "interval": "30s", "path": "/metrics"}
    zero = {**monitor, "spec": {**monitor["spec"], "endpoints": [endpoint]}}
    assert crd_schema.errors(zero) == ["spec.endpoints.0.port: Port is required"]
    misspelt = {**monitor, "spec": {**monitor["spec"], "selectr": {}}}
    assert any("'selectr' was unexpected" in e for e in crd_schema.errors(misspelt))


def test_gke_rules_split_by_where_their_series_come_from(gmp: list[Obj]) -> None:
    """A Rules object reads only its namespace's series: the webhook's own alerts; the
    apiserver's series belong to no namespace, so those alerts are in the ClusterRules."""
    own, cluster = one(gmp, "Rules"), one(gmp, "ClusterRules")
    assert crd_schema.scope(own) == "Namespaced" and crd_schema.scope(cluster) == "Cluster"
    assert own["metadata"]["namespace"] == "pod-placement-webhook"
    own_exprs = [r["expr"] for g in own["spec"]["groups"] for r in g["rules"]]
    assert own_exprs and all("apiserver_" not in e for e in own_exprs)
    cluster_exprs = [r["expr"] for g in cluster["spec"]["groups"] for r in g["rules"]]
    assert cluster_exprs and all("apiserver_admission_webhook" in e for e in cluster_exprs)
    assert own["spec"]["groups"] + cluster["spec"]["groups"] == source_groups()


def test_the_pod_monitoring_scrapes_the_replicas_health_port(gmp: list[Obj]) -> None:
    webhook = render(DEPLOY)
    pod = one(webhook, "Deployment")["spec"]["template"]
    ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    monitor = one(gmp, "PodMonitoring")
    assert monitor["metadata"]["namespace"] == one(webhook, "Service")["metadata"]["namespace"]
    assert selects(monitor["spec"]["selector"], pod["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in ports and endpoint["path"] == "/metrics"


def test_gke_monitoring_follows_the_webhook_into_another_namespace(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    kustomization = {
        "namespace": "platform-webhooks",
        "resources": [rel(root, DEPLOY), rel(root, GMP)],
        "components": [rel(root, COMPONENTS / "pool-gke")],
        "transformers": [rel(root, DEPLOY / "namespace-references")],
    }
    objects = render(overlay(root, kustomization))
    assert assert_consistent(objects) == "platform-webhooks"
    assert one(objects, "PodMonitoring")["metadata"]["namespace"] == "platform-webhooks"


# --- a Prometheus configured by hand ------------------------------------------------------------


def prometheus_config(directory: Path) -> Path:
    """A prometheus.yml as the rule file and the scrape job tell a user to write it. Debian's
    Prometheus is built without Kubernetes service discovery, so its promtool refuses
    `kubernetes_sd_configs`: that one field is checked apart (test below), the rest of the job
    (relabelling included) by promtool, with a static target in its place."""
    shutil.copy(RULE_FILE, directory / RULE_FILE.name)
    job = yaml.safe_load((PLAIN / "scrape-config.yaml").read_text())
    assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
    job["static_configs"] = [{"targets": ["127.0.0.1:8080"]}]
    config: dict[str, Any] = {
        "global": {"scrape_interval": "30s"},
        "rule_files": [RULE_FILE.name],
        "scrape_configs": [job],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_promtool_accepts_the_rule_file_and_the_scrape_job(tmp_path: Path) -> None:
    done = promtool("check", "config", str(prometheus_config(tmp_path)), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
    rules = promtool("check", "rules", RULE_FILE.name, cwd=tmp_path)
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_the_alerts_fire_from_the_plain_rule_file(tmp_path: Path) -> None:
    shutil.copy(RULE_FILE, tmp_path / "rules.yaml")
    shutil.copy(CASES, tmp_path / CASES.name)
    done = promtool("test", "rules", CASES.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_scrape_job_keeps_the_replicas_health_port() -> None:
    job = yaml.safe_load((PLAIN / "scrape-config.yaml").read_text())
    keeps = {
        r["source_labels"][0]: r["regex"]
        for r in job["relabel_configs"]
        if r.get("action") == "keep"
    }
    pod = one(render(DEPLOY), "Deployment")["spec"]["template"]
    name = pod["metadata"]["labels"]["app.kubernetes.io/name"]
    assert keeps["__meta_kubernetes_pod_label_app_kubernetes_io_name"] == name
    ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    assert keeps["__meta_kubernetes_pod_container_port_name"] in ports
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"namespace", "pod"} <= targets, "the alerts aggregate by namespace and pod"


def test_the_annotations_component_points_at_the_health_port(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    kustomization = {"resources": [rel(root, DEPLOY)], "components": [rel(root, PLAIN)]}
    objects = render(overlay(root, kustomization))
    assert_consistent(objects)
    pod = one(objects, "Deployment")["spec"]["template"]
    annotations = pod["metadata"]["annotations"]
    health = next(p for p in pod["spec"]["containers"][0]["ports"] if p["name"] == "health")
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(health["containerPort"]),
        "prometheus.io/path": "/metrics",
    }
    assert f"--health-port={health['containerPort']}" in pod["spec"]["containers"][0]["args"]
