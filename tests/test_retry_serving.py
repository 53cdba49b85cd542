"""Jobs, CronJobs and Argo workflows through the admission contract and the real server: the
CREATE of one the set sends to spot is patched, everything else about them is allowed as it is,
a refused retry is a warning, a log line and a metric, and the Pod path answers as before."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube import kubectl_patch
from tests.pods import SHIPPED_POLICIES, compiled, node_pool, shipped
from tests.reviews import gpu_pod, patch_of, review
from tests.scraping import client, response_of, scrape, send, value
from tests.servers import running_server
from webhook.engine import compile_policy_set
from webhook.errors import ReviewError
from webhook.policy import load_policy_set
from webhook.serving.admission import handle, parse_review

Doc = dict[str, Any]
CASES = Path(__file__).parent / "cases" / "retries"


def case(name: str) -> Doc:
    obj: Doc = yaml.safe_load((CASES / f"{name}.in.yaml").read_text())
    return obj


def job_review(obj: Doc, **overrides: Any) -> bytes:
    """A CREATE of `obj` as kube-apiserver sends it to the workload entry."""
    group, resource = {
        "Job": ("batch", "jobs"),
        "CronJob": ("batch", "cronjobs"),
        "Workflow": ("argoproj.io", "workflows"),
        "CronWorkflow": ("argoproj.io", "cronworkflows"),
        "WorkflowTemplate": ("argoproj.io", "workflowtemplates"),
    }[obj["kind"]]
    sent = {
        "group": group,
        "resource": resource,
        "kind": obj["kind"],
        "namespace": obj["metadata"]["namespace"],
        **overrides,
    }
    return json.dumps(review(obj, **sent)).encode()


def answer(body: bytes) -> tuple[Doc, Any]:
    raw, outcome = handle(shipped(), body)
    return json.loads(raw)["response"], outcome


@pytest.mark.parametrize(
    "name", ["job-docs-pi", "cronjob-kubectl-create-never", "kfp-v2-hello-world"]
)
def test_a_create_the_set_sends_to_spot_is_patched(name: str) -> None:
    obj = case(name)
    response, outcome = answer(job_review(obj))
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"
    after = kubectl_patch(obj, patch_of({"response": response}))
    assert after["metadata"]["annotations"]["pod-placement-webhook/policies"] == "spot-retries"
    assert response["auditAnnotations"] == {"policies": "spot-retries"}
    assert outcome.result == "patched" and outcome.retries == ["spot-retries"]
    assert outcome.retries_refused == [] and outcome.applied == []  # no pod policy applied


def test_a_refused_retry_is_a_warning_a_log_line_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="webhook.admission"):
        response, outcome = answer(job_review(case("cronjob-kubectl-create")))
    assert "patch" not in response
    (warning,) = response["warnings"]
    assert warning.startswith("retry policy spot-retries: no podFailurePolicy rule")
    assert outcome.result == "unchanged"
    assert outcome.retries_refused == [("spot-retries", "restart-policy")]
    (record,) = [r for r in caplog.records if r.getMessage().startswith("retries not added")]
    assert record.__dict__["kind"] == "CronJob" and record.__dict__["namespace"] == "batch"


@pytest.mark.parametrize(
    "overrides",
    [
        {"operation": "UPDATE"},
        {"operation": "DELETE"},
        {"sub_resource": "status"},
        {"group": "apps", "resource": "deployments", "kind": "Deployment"},
    ],
    ids=["an UPDATE", "a DELETE", "the status subresource", "another resource"],
)
def test_anything_but_a_create_of_these_resources_is_allowed_as_it_is(overrides: Doc) -> None:
    obj = case("job-docs-pi")
    response, outcome = answer(job_review(obj, old=obj, **overrides))
    assert response == {"uid": response["uid"], "allowed": True}
    assert outcome.result == "skipped"


def test_a_create_without_the_object_is_a_400() -> None:
    body = json.loads(job_review(case("job-docs-pi")))
    body["request"]["object"] = None
    with pytest.raises(
        ReviewError, match=r"request\.object must be the object for a CREATE of jobs"
    ):
        parse_review(json.dumps(body).encode())


def test_a_failure_inside_admits_the_object_unchanged_with_the_words() -> None:
    def broken(namespace: str) -> Any:
        raise RuntimeError("view broken")

    raw, outcome = handle(shipped(), job_review(case("job-docs-pi")), broken)
    response = json.loads(raw)["response"]
    assert "patch" not in response and response["allowed"] is True
    assert response["warnings"] == [
        "pod-placement-webhook: internal error, object admitted unchanged"
    ]
    assert outcome.result == "error" and outcome.errors == ["RuntimeError: view broken"]


def test_the_pod_path_answers_as_it_did_without_retry_policies(tmp_path: Path) -> None:
    without = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, without, ignore=shutil.ignore_patterns("examples"))
    (without / "25-spot-retries.yaml").unlink()
    before = compile_policy_set(load_policy_set(without))
    body = json.dumps(review(gpu_pod())).encode()
    assert handle(before, body)[0] == handle(shipped(), body)[0]


def test_a_set_with_no_retry_policy_allows_every_job_as_it_is() -> None:
    pools = compiled(node_pool("spot", {"pool": "spot"}, capacity="spot"))
    raw, outcome = handle(pools, job_review(case("job-docs-pi")))
    assert "patch" not in json.loads(raw)["response"] and outcome.result == "unchanged"


def test_the_server_counts_retries_added_and_refused(tmp_path: Path) -> None:
    with running_server(tmp_path, [SHIPPED_POLICIES]) as server, client(server) as http:
        _, before = scrape(server)
        for reason in ("restart-policy", "rule-limit", "invalid"):
            name = "placement_webhook_retries_refused_total"
            assert value(before, name, policy="spot-retries", reason=reason) == 0
        added = response_of(send(http, json.loads(job_review(case("job-kubectl-create")))))
        assert patch_of({"response": added})
        send(http, json.loads(job_review(case("cronjob-kubectl-create"))))
        send(http, json.loads(job_review(case("job-twenty-rules"))))
        _, after = scrape(server)
    assert value(after, "placement_webhook_retries_added_total", policy="spot-retries") == 1
    refused = "placement_webhook_retries_refused_total"
    assert value(after, refused, policy="spot-retries", reason="restart-policy") == 1
    assert value(after, refused, policy="spot-retries", reason="rule-limit") == 1
    assert value(after, refused, policy="spot-retries", reason="invalid") == 0
    assert value(after, "placement_webhook_reviews_total", result="patched") == 1
    assert "retries not added" in server.log()
