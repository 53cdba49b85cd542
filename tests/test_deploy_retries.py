"""The webhook configuration's entry for Jobs, CronJobs and Argo workflows, as rendered by
`kubectl kustomize deploy/`: what it sends, that it fails open with the Pod entry's exclusions,
that its `matchConditions` (evaluated with a CEL implementation, as tests/test_match_conditions.py
does for pods) only skip what the webhook would leave unchanged, and that the RBAC stays
read-only."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy import celtypes

from tests.kube import kustomize
from tests.pods import shipped
from tests.reviews import review
from tests.test_deploy import POD_WEBHOOK, REPO, RETRIES_WEBHOOK, Obj, entry, one
from webhook.tools.preview.controllers import job_of_cronjob
from webhook.workloads import review_workload

CASES = Path(__file__).parent / "cases" / "retries"
NAMES = sorted(p.name.removesuffix(".in.yaml") for p in CASES.glob("*.in.yaml"))
CALLED, SKIPPED = "webhook called", "webhook skipped"
RESOURCES = {
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "Workflow": ("argoproj.io", "workflows"),
    "CronWorkflow": ("argoproj.io", "cronworkflows"),
    "WorkflowTemplate": ("argoproj.io", "workflowtemplates"),
}


@cache
def rendered() -> tuple[Obj, ...]:
    return tuple(kustomize(REPO / "deploy"))


def webhooks() -> tuple[Obj, Obj]:
    config = one(list(rendered()), "MutatingWebhookConfiguration")
    return entry(config, POD_WEBHOOK), entry(config, RETRIES_WEBHOOK)


def test_only_creates_of_jobs_cronjobs_and_argo_workflows_are_sent() -> None:
    _, retries = webhooks()
    assert retries["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": ["batch"],
            "apiVersions": ["v1"],
            "resources": ["jobs", "cronjobs"],
            "scope": "Namespaced",
        },
        {
            "operations": ["CREATE"],
            "apiGroups": ["argoproj.io"],
            "apiVersions": ["v1alpha1"],
            "resources": ["workflows", "cronworkflows", "workflowtemplates"],
            "scope": "Namespaced",
        },
    ]


def test_it_fails_open_and_excludes_what_the_pod_entry_excludes() -> None:
    pods, retries = webhooks()
    assert retries["failurePolicy"] == "Ignore"
    assert 1 <= retries["timeoutSeconds"] <= 5
    for same in (
        "clientConfig",
        "admissionReviewVersions",
        "sideEffects",
        "matchPolicy",
        "reinvocationPolicy",
        "namespaceSelector",
        "objectSelector",
    ):
        assert retries[same] == pods[same], same


def test_the_rbac_stays_read_only() -> None:
    roles = [o for o in rendered() if o["kind"] in ("Role", "ClusterRole")]
    assert [r["metadata"]["name"] for r in roles] == ["pod-placement-webhook-namespaces"]
    (role,) = roles
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}
    ]


# --- matchConditions -----------------------------------------------------------------------


def evaluate(expression: str, obj: Mapping[str, Any]) -> bool | str:
    """The condition's value on the CREATE of `obj`, or the error that stopped it."""
    group, resource = RESOURCES[obj["kind"]]
    request = review(obj, group=group, resource=resource, kind=obj["kind"])["request"]
    env = celpy.Environment()
    try:
        program = env.program(env.compile(expression))
        value = program.evaluate(
            {
                "object": celpy.json_to_cel(request["object"]),
                "oldObject": celpy.json_to_cel(request["oldObject"]),
                "request": celpy.json_to_cel(
                    {k: v for k, v in request.items() if "bject" not in k}
                ),
            }
        )
    except celpy.CELEvalError as exc:
        return f"error: {exc}"
    return bool(value) if isinstance(value, celtypes.BoolType) else f"error: {value!r}"


def decision(obj: Mapping[str, Any]) -> str:
    """kube-apiserver's rule (matchconditions/matcher.go), for a webhook that fails open."""
    _, retries = webhooks()
    results = [evaluate(c["expression"], obj) for c in retries["matchConditions"]]
    assert all(isinstance(r, bool) for r in results), results  # an error skips it silently
    return SKIPPED if False in results else CALLED


def read(name: str) -> Obj:
    obj: Obj = yaml.safe_load((CASES / f"{name}.in.yaml").read_text())
    return obj


@pytest.mark.parametrize("name", NAMES)
def test_the_conditions_skip_only_what_the_webhook_leaves_unchanged(name: str) -> None:
    obj = read(name)
    result = review_workload(shipped(), obj, obj["metadata"]["namespace"])
    if decision(obj) == SKIPPED:
        assert result.ops == [] and result.warnings == [], name
    # What the webhook made is never sent again, whatever the reinvocation.
    if result.ops:
        assert decision(result.object) == SKIPPED


def test_the_objects_that_decide_for_themselves_are_skipped() -> None:
    skipped = [name for name in NAMES if decision(read(name)) == SKIPPED]
    assert skipped == [
        "argo-template-defaults",
        "argo-workflow-template-ref",
        "job-docs-pod-failure-policy",
    ]


def test_the_jobs_of_a_cronjob_that_has_its_rule_are_not_sent() -> None:
    """The CronJob controller creates a Job from the template on every run: once the CronJob
    has the rule, the webhook is not called for them."""
    cronjob = read("cronjob-kubectl-create-never")
    result = review_workload(shipped(), cronjob, "batch")
    made = job_of_cronjob(result.object, datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    assert decision(made) == SKIPPED
    assert decision(job_of_cronjob(cronjob, datetime(2026, 1, 2, 3, 4, tzinfo=UTC))) == CALLED


def test_the_fail_open_alerts_watch_both_entries() -> None:
    rules = yaml.safe_load((REPO / "deploy" / "monitoring" / "prometheus-rules.yaml").read_text())
    exprs = [r["expr"] for g in rules["spec"]["groups"] for r in g["rules"]]
    (pattern,) = {
        e.split('name=~"')[1].split('"')[0].replace("\\\\", "\\")
        for e in exprs
        if "fail_open_count" in e
    }
    for hook in webhooks():
        assert re.fullmatch(pattern, hook["name"]), hook["name"]
