"""Talking to a running server as the apiserver and Prometheus do: reviews in, /metrics out."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.reviews import internal_errors
from tests.servers import RunningServer

Doc = dict[str, Any]


def pod_review(pod: Mapping[str, Any], namespace: str, operation: str = "CREATE") -> Doc:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "",
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:argo:argo"},
            "object": dict(pod),
            "oldObject": dict(pod) if operation == "UPDATE" else None,
            "dryRun": False,
        },
    }


def gpu_step(name: str = "train-", namespace: str = "ml", **env: str) -> Doc:
    """An Argo workflow step asking for a GPU (the shipped policies patch it)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": name,
            "namespace": namespace,
            "labels": {"workflows.argoproj.io/workflow": "train-abc"},
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Workflow",
                    "name": "train-abc",
                    "uid": "11111111-2222-3333-4444-555555555555",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example.com/trainer:1",
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                }
            ]
        },
    }


def plain_pod(name: str = "web", namespace: str = "default") -> Doc:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "main", "image": "registry.example.com/web:1"}]},
    }


def client(server: RunningServer) -> httpx.Client:
    """A keep-alive HTTPS client that trusts the server's CA, as the apiserver does."""
    return httpx.Client(base_url=server.url, verify=server.ssl_context(), timeout=10)


def send(http: httpx.Client, body: Doc | bytes) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post("/mutate", content=content, headers={"Content-Type": "application/json"})


def response_of(reply: httpx.Response) -> Doc:
    """The AdmissionReview response of a 200 reply, in which the webhook did not fail."""
    assert reply.status_code == 200, reply.text
    answer: Doc = reply.json()["response"]
    assert not internal_errors(answer), answer["warnings"]
    return answer


def patch_of(answer: Mapping[str, Any]) -> list[Doc]:
    if "patch" not in answer:
        return []
    ops: list[Doc] = json.loads(base64.b64decode(answer["patch"]))
    return ops


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: RunningServer) -> tuple[dict[str, str], Samples]:
    """GET /metrics on the health port, parsed by prometheus-client's own parser.

    Returns the metric families' types by name and every sample keyed by (sample name,
    sorted labels)."""
    reply = httpx.get(server.health_url + "/metrics", timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no sample {name}{labels}; have {sorted(k[0] for k in samples)}"
    return samples[key]


def eventually(check: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    """Wait for a condition the server reaches on its own (a reload, a watch event).

    The deadline only bounds a broken run; nothing here asserts how fast it happens."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)
