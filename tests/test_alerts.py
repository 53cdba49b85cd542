"""The shipped alert rules, checked and unit-tested by Prometheus's own promtool: the rules
parse, and each alert fires (or stays silent) on the series that should trigger it, with the
labels and text an on-call engineer reads. Cases: tests/prometheus/alerts.test.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.system_tools import require

REPO = Path(__file__).resolve().parent.parent
RULE = REPO / "deploy" / "monitoring" / "prometheus-rules.yaml"
CASES = Path(__file__).resolve().parent / "prometheus" / "alerts.test.yaml"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = require("promtool")["promtool"]
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, check=False)


def rules_file(directory: Path) -> Path:
    """The PrometheusRule's spec is a plain Prometheus rule file."""
    rule = yaml.safe_load(RULE.read_text())
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


def alert_names() -> set[str]:
    rule = yaml.safe_load(RULE.read_text())
    return {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}


def test_rules_pass_promtool_check(tmp_path: Path) -> None:
    done = promtool("check", "rules", str(rules_file(tmp_path)), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in done.stdout


def test_alerts_fire_on_their_series(tmp_path: Path) -> None:
    rules_file(tmp_path)
    shutil.copy(CASES, tmp_path / CASES.name)
    done = promtool("test", "rules", CASES.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_apiserver_alert_has_a_case() -> None:
    cases = yaml.safe_load(CASES.read_text())
    tested = {t["alertname"] for case in cases["tests"] for t in case["alert_rule_test"]}
    untested = {a for a in alert_names() if "Apiserver" in a or "Open" in a} - tested
    assert not untested, untested


def test_fail_open_alerts_read_the_apiserver_metrics_by_their_upstream_names() -> None:
    # k8s.io/apiserver/pkg/admission/metrics/metrics.go: webhook_fail_open_count{name,type}
    # and webhook_admission_duration_seconds{name,type,operation,rejected}; a mutating
    # webhook's type is "admit" (plugin/webhook/mutating/dispatcher.go).
    exprs = " ".join(
        r["expr"] for g in yaml.safe_load(RULE.read_text())["spec"]["groups"] for r in g["rules"]
    )
    assert 'apiserver_admission_webhook_fail_open_count{name=~"pod-placement-webhook' in exprs
    assert "apiserver_admission_webhook_admission_duration_seconds_bucket{name=~" in exprs
    assert exprs.count('type="admit"') == 4


def test_the_dashboard_shows_what_the_alerts_watch() -> None:
    dashboard = json.loads((REPO / "deploy" / "monitoring" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for metric in (
        "apiserver_admission_webhook_fail_open_count",
        "apiserver_admission_webhook_admission_duration_seconds_bucket",
        "placement_webhook_certificate_expiry_timestamp_seconds",
    ):
        assert any(metric in e for e in exprs), metric
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_install_guide_says_what_each_alert_means() -> None:
    guide = (REPO / "docs" / "install.md").read_text()
    table = guide[guide.index("### Alerts") : guide.index("## 7. ")]
    undocumented = {a for a in alert_names() if f"`{a}`" not in table}
    assert not undocumented, undocumented
