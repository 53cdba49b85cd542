"""The whole set in audit mode (PolicySettings `mode: audit`, or `serve --audit`): every review is
computed as in enforce and answered without a patch, while its warnings, the `audited` audit
annotation, the log line and the metrics report exactly what enforce would add. Then enforce,
without a restart."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kube import apply_both
from tests.reviews import gpu_pod, review
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
from webhook.policy.load import load_policy_set
from webhook.proof import compile_proven
from webhook.serving.admission import Outcome, handle
from webhook.serving.serve import load_store

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "policies"
SETTINGS = SHIPPED / "00-settings.yaml"


def shipped_copy(to: Path, mode: str | None = None) -> Path:
    """The shipped set, its PolicySettings in `mode` (left as shipped when None)."""
    to.mkdir(parents=True, exist_ok=True)
    for source in SHIPPED.glob("*.yaml"):
        if not source.name.endswith(".test.yaml"):
            shutil.copy(source, to / source.name)
    if mode is not None:
        settings = SETTINGS.read_text()
        assert "\nspec:\n" in settings
        (to / SETTINGS.name).write_text(settings.replace("\nspec:\n", f"\nspec:\n  mode: {mode}\n"))
    return to


def answer(
    policies: Path, pod: dict[str, Any], audit: bool = False, namespace: str = "ml"
) -> tuple[Any, Outcome]:
    body = json.dumps(review(pod, namespace=namespace)).encode()
    response, outcome = handle(load_store([policies], audit).current, body)
    return json.loads(response)["response"], outcome


def patch(response: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(base64.b64decode(response["patch"])) if "patch" in response else []


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sets")
    return {mode: shipped_copy(root / mode, mode) for mode in ("enforce", "audit")}


def test_the_audited_answer_carries_no_patch_and_reports_what_enforce_adds(
    sets: dict[str, Path],
) -> None:
    pod = gpu_pod()
    enforced, enforce = answer(sets["enforce"], pod)
    audited, audit = answer(sets["audit"], pod)
    ops = patch(enforced)
    assert ops and enforce.result == "patched"
    assert "patch" not in audited and "patchType" not in audited
    assert (audit.result, audit.mode, audit.patch_ops, audit.applied) == ("audited", "audit", 0, [])
    assert audit.audited == enforce.applied
    assert audited["auditAnnotations"] == {"audited": ",".join(enforce.applied)}
    assert audit.would_add == [f"{op['op']} {op['path']}" for op in ops]
    for name in enforce.applied:
        assert any(w.startswith(f"policy {name} (audit) would add: ") for w in audited["warnings"])
    assert apply_both(pod, ops) != pod, "what was reported is what enforce applies"


def test_each_warning_names_the_parts_the_policy_would_add(sets: dict[str, Path]) -> None:
    audited, _ = answer(sets["audit"], gpu_pod())
    assert (
        "policy extended-resource-tolerations (audit) would add: tolerations" in audited["warnings"]
    )
    assert all(len(w) <= 120 for w in audited["warnings"]), "short warnings (Kubernetes docs)"


def test_a_pod_no_policy_changes_is_unchanged_and_unannotated(sets: dict[str, Path]) -> None:
    pod = plain_pod(namespace="kube-system")  # no placement there, and no GPU
    response, outcome = answer(sets["audit"], pod, namespace="kube-system")
    assert (outcome.result, outcome.audited, outcome.would_add) == ("unchanged", [], [])
    assert "auditAnnotations" not in response and "patch" not in response


def test_serve_audit_audits_a_set_whose_settings_say_enforce(sets: dict[str, Path]) -> None:
    _, outcome = answer(sets["enforce"], gpu_pod(), audit=True)
    assert (outcome.mode, outcome.result, outcome.patch_ops) == ("audit", "audited", 0)


@pytest.mark.parametrize(
    ("settings", "flag", "mode"),
    [
        ("enforce", False, "enforce"),
        ("enforce", True, "audit"),
        ("audit", False, "audit"),
        ("audit", True, "audit"),
    ],
    ids=[
        "both enforce: enforced",
        "the flag alone audits",
        "the settings alone audit",
        "both audit",
    ],
)
def test_the_flag_and_the_settings_combine_either_one_audits(
    sets: dict[str, Path], settings: str, flag: bool, mode: str
) -> None:
    assert load_store([sets[settings]], flag).current.settings.mode == mode


def test_the_placement_proof_and_policy_tests_see_the_set_as_enforce_would() -> None:
    """Audit changes what the answer carries, not what the set computes: `check` proves and
    `test` compares the additions enforce will make."""
    audited = compile_proven(load_policy_set([SHIPPED]))
    assert audited.settings.mode == "enforce"


# --- the real server, and switching to enforce without a restart -----------------------------


def test_the_server_reports_the_dry_run_and_enforces_after_a_reload(tmp_path: Path) -> None:
    policies = shipped_copy(tmp_path / "policies", "audit")
    with running_server(tmp_path, [policies], ["--policy-poll-seconds", "0.2"]) as server:
        ready = httpx.get(server.health_url + "/readyz").json()
        assert ready["mode"] == "audit"
        with client(server) as http:
            audited = response_of(send(http, pod_review(gpu_step(), "ml")))
        assert "patch" not in audited
        _, samples = scrape(server)
        assert value(samples, "placement_webhook_audit_mode") == 1
        assert value(samples, "placement_webhook_reviews_total", result="audited") == 1
        assert value(samples, "placement_webhook_reviews_total", result="patched") == 0
        names = audited["auditAnnotations"]["audited"].split(",")
        for name in names:
            assert value(samples, "placement_webhook_policy_audits_total", policy=name) == 1
            assert value(samples, "placement_webhook_policy_patches_total", policy=name) == 0
        for policy in load_policy_set([policies]).policies:  # every policy, at 0 until it fires
            assert ("placement_webhook_policy_audits_total", (("policy", policy.name),)) in samples

        shipped_copy(policies, "enforce")  # the rollout's second step: the ConfigMap changes
        eventually(lambda: httpx.get(server.health_url + "/readyz").json()["mode"] == "enforce",
                   "the set reloaded in enforce mode")  # fmt: skip
        with client(server) as http:
            enforced = response_of(send(http, pod_review(gpu_step(), "ml")))
        _, samples = scrape(server)
        assert value(samples, "placement_webhook_audit_mode") == 0
    assert enforced["auditAnnotations"]["policies"].split(",") == names
    reviews = review_lines(server)
    assert [(r["mode"], r["result"]) for r in reviews] == [
        ("audit", "audited"),
        ("enforce", "patched"),
    ]
    assert reviews[0]["audited"] == names and reviews[0]["policies"] == []
    assert reviews[0]["patch_ops"] == 0 and reviews[1]["patch_ops"] == len(reviews[0]["would_add"])
    assert "whole set in audit mode (PolicySettings mode: audit)" in server.log()


def test_serve_audit_is_reported_at_start_and_in_readyz(tmp_path: Path) -> None:
    with running_server(tmp_path, [SHIPPED], ["--audit"]) as server:
        assert httpx.get(server.health_url + "/readyz").json()["mode"] == "audit"
    assert "whole set in audit mode (serve --audit)" in server.log()


def review_lines(server: RunningServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log().splitlines() if '"msg":"review"' in line]
