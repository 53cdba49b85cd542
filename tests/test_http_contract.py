"""The admission contract, end to end: the real server over real TLS, as kube-apiserver calls it.

References: ../shared/reference/admission-contract.md (what the apiserver sends and checks).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kube import apply_both, validate_pod
from tests.reviews import check_response, gpu_pod, patch_of, review
from tests.servers import RunningServer, running_server

REPO = Path(__file__).resolve().parent.parent


def _gpu_argo_pod() -> dict[str, Any]:
    """An Argo GPU step as the apiserver passes it on: named by generateName, limits copied
    into requests by defaulting, DefaultTolerationSeconds' toleration already added."""
    pod = gpu_pod()
    del pod["metadata"]["name"]
    pod["metadata"]["generateName"] = "train-"
    resources = pod["spec"]["containers"][0]["resources"]
    resources["requests"] = dict(resources["limits"])
    pod["spec"]["tolerations"] = [
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    return pod


GPU_ARGO_POD = _gpu_argo_pod()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("contract")) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, verify=server.ssl_context(), timeout=10) as c:
        yield c


def post(client: httpx.Client, body: Any) -> httpx.Response:
    # kube-apiserver appends ?timeout=<N>s to every call.
    return client.post("/mutate?timeout=5s", json=body)


def test_gpu_workflow_pod_gets_a_patch_that_kubectl_applies(client: httpx.Client) -> None:
    r = post(client, review(GPU_ARGO_POD))
    assert r.status_code == 200
    answer = r.json()
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    response = check_response(answer["response"], "705ab4f5-6393-11e8-b7cc-42010a800002")
    assert response["patchType"] == "JSONPatch"
    mutated = apply_both(GPU_ARGO_POD, patch_of(answer))
    validate_pod(mutated)
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in (
        mutated["spec"]["tolerations"]
    )
    assert mutated["spec"]["tolerations"][0] == GPU_ARGO_POD["spec"]["tolerations"][0]
    terms = mutated["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [
        {
            "matchExpressions": [
                {
                    "key": "k8s.amazonaws.com/accelerator",
                    "operator": "In",
                    "values": ["nvidia-tesla-v100"],
                },
                {"key": "ng-name", "operator": "In", "values": ["g1"]},
            ]
        }
    ]
    applied = response["auditAnnotations"]["policies"].split(",")
    assert "extended-resource-tolerations" in applied
    assert (
        mutated["metadata"]["annotations"]["pod-placement-webhook/policies"]
        == (response["auditAnnotations"]["policies"])
    )


def test_the_patched_pod_sent_again_gets_no_patch(client: httpx.Client) -> None:
    first = post(client, review(GPU_ARGO_POD)).json()
    check_response(first["response"])
    mutated = apply_both(GPU_ARGO_POD, patch_of(first))
    again = check_response(post(client, review(mutated)).json()["response"], patched=False)
    assert "patchType" not in again


def test_v1beta1_review_is_answered_in_v1beta1(client: httpx.Client) -> None:
    answer = post(client, review(GPU_ARGO_POD, version="v1beta1")).json()
    assert answer["apiVersion"] == "admission.k8s.io/v1beta1"
    assert answer["kind"] == "AdmissionReview"
    check_response(answer["response"], "705ab4f5-6393-11e8-b7cc-42010a800002")


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("an UPDATE is allowed unchanged", {"operation": "UPDATE"}),
        ("a DELETE is allowed unchanged", {"operation": "DELETE"}),
        ("a CONNECT is allowed unchanged", {"operation": "CONNECT"}),
        ("a pods/status subresource is allowed unchanged", {"sub_resource": "status"}),
        (
            "a pods/ephemeralcontainers subresource is allowed unchanged",
            {"sub_resource": "ephemeralcontainers"},
        ),
        ("a Deployment is allowed unchanged", {"resource": "deployments", "kind": "Deployment"}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_only_pod_create_is_mutated(
    client: httpx.Client, name: str, changes: dict[str, Any]
) -> None:
    answer = post(client, review(GPU_ARGO_POD, **changes)).json()
    assert answer["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


def test_a_delete_with_a_null_object_is_allowed(client: httpx.Client) -> None:
    answer = post(client, review(None, operation="DELETE")).json()
    assert answer["response"]["allowed"] is True
    assert "patch" not in answer["response"]


def test_dry_run_is_mutated_like_any_create(client: httpx.Client) -> None:
    body = review(GPU_ARGO_POD)
    body["request"]["dryRun"] = True
    check_response(post(client, body).json()["response"])


def test_a_pod_with_only_generate_name_and_no_namespace_in_metadata(client: httpx.Client) -> None:
    pod = copy.deepcopy(GPU_ARGO_POD)
    del pod["metadata"]["namespace"]
    answer = post(client, review(pod, namespace="ml")).json()
    check_response(answer["response"])
    mutated = apply_both(pod, patch_of(answer))
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in (
        mutated["spec"]["tolerations"]
    )
    assert "namespace" not in mutated["metadata"]


def test_a_pod_that_needs_nothing_gets_no_patch(client: httpx.Client) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sys"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    answer = post(client, review(pod, namespace="kube-system")).json()
    assert answer["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"apiVersion": "v1", "kind": "AdmissionReview", "request": {}}', "apiVersion"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "Pod"}', "kind must be AdmissionReview"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', "request"),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", '
            b'"request": {"uid": "", "operation": "CREATE"}}',
            "uid",
        ),
        (
            json.dumps(review({"spec": {}}) | {"request": review(None)["request"]}).encode(),
            "object",
        ),
    ],
    ids=[
        "not JSON",
        "a JSON array",
        "a wrong apiVersion",
        "a wrong kind",
        "no request",
        "an empty uid",
        "a pod CREATE without the pod",
    ],
)
def test_malformed_reviews_get_400_with_a_readable_message(
    client: httpx.Client, body: bytes, message: str
) -> None:
    r = client.post("/mutate", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert message in r.json()["error"]


def test_health_endpoints_answer_on_the_plain_http_port(server: RunningServer) -> None:
    with httpx.Client(base_url=server.health_url) as c:
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz").json()
    assert ready["policies"] > 0


def test_a_policy_that_fails_on_a_pod_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A pod whose metadata.labels is not a map breaks the labels mutation of one policy: that
    policy is skipped and reported, the others still apply, and the answer is never a 500."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.yaml").write_text(
        "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"
        "metadata: {name: add-label}\nspec:\n  order: 1\n  add:\n    labels: {team: ml}\n"
        "---\napiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"
        "metadata: {name: gpu}\nspec:\n  order: 2\n  add:\n"
        "    extendedResourceTolerations: {}\n"
    )
    pod = copy.deepcopy(GPU_ARGO_POD)
    pod["metadata"]["labels"] = "not-a-map"
    with (
        running_server(tmp_path, [policies]) as server,
        httpx.Client(base_url=server.url, verify=server.ssl_context()) as c,
    ):
        r = post(c, review(pod))
        log = server.log()
    assert r.status_code == 200
    response = r.json()["response"]
    assert response["allowed"] is True
    assert any("add-label" in w and "skipped" in w for w in response["warnings"])
    ops = patch_of(r.json())
    assert any(op["path"].startswith("/spec/tolerations") for op in ops)
    assert response["auditAnnotations"] == {"policies": "gpu"}
    assert "705ab4f5-6393-11e8-b7cc-42010a800002" in log
