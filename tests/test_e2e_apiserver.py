"""The webhook called exactly as kube-apiserver calls it through the rendered configuration.

From `kubectl kustomize deploy/` the MutatingWebhookConfiguration gives the service, path,
timeout and review versions; `placement-webhook certs` gives the certificate and the patch that
sets the caBundle. The real server runs on loopback with that certificate and with the rendered
policy ConfigMap mounted the way kubelet mounts it. The client does what the apiserver does
(admission-contract.md, section 1): POST to https://<service>.<namespace>.svc<path>?timeout=Ns,
trusting only the caBundle and verifying that name, first review version it knows.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube import kubectl, kubectl_patch, validate_pod
from tests.kubelet import Volume
from tests.reviews import check_response, gpu_pod, patch_of, review
from tests.servers import RunningServer, running_server

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "placement-webhook"


def rendered() -> list[dict[str, Any]]:
    done = subprocess.run(
        [kubectl(), "kustomize", str(REPO / "deploy")], capture_output=True, text=True, check=True
    )
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@dataclass
class Apiserver:
    """What kube-apiserver knows about the webhook, read from its configuration."""

    host: str  # the TLS server name: <service>.<namespace>.svc
    path: str
    timeout_seconds: int
    versions: list[str]
    ca_bundle: bytes
    port: int  # where the Service would send it: here the server's loopback port

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca_bundle.decode())
        assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
        return context

    def call(self, body: dict[str, Any], server_name: str | None = None) -> tuple[int, Any]:
        conn = ServiceConnection(server_name or self.host, self.port, context=self.context())
        try:
            conn.request(
                "POST",
                f"{self.path}?timeout={self.timeout_seconds}s",
                json.dumps(body).encode(),
                {"Content-Type": "application/json", "Accept": "application/json"},
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()


class ServiceConnection(http.client.HTTPSConnection):
    """HTTPS to the Service's DNS name (SNI, certificate check, Host header) while the bytes go
    to 127.0.0.1: what the cluster's DNS and Service routing do for the apiserver."""

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Apiserver, RunningServer]]:
    tmp = tmp_path_factory.mktemp("e2e")
    objects = rendered()
    (config,) = [o for o in objects if o["kind"] == "MutatingWebhookConfiguration"]
    ref = config["webhooks"][0]["clientConfig"]["service"]
    subprocess.run(
        [
            str(BIN),
            "certs",
            "--service",
            ref["name"],
            "--namespace",
            ref["namespace"],
            "--out",
            str(tmp / "certs"),
        ],
        check=True,
        capture_output=True,
    )
    ops = yaml.safe_load((tmp / "certs" / "cabundle-patch.yaml").read_text())
    hook, retries = kubectl_patch(config, ops)["webhooks"]  # pods; Jobs and workflows
    assert retries["clientConfig"] == hook["clientConfig"]  # one server, one CA for both

    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap"]
    policies = Volume(tmp / "policies", {k: v.encode() for k, v in config_map["data"].items()})
    certs = tmp / "certs"
    cert = (certs / "tls.crt", certs / "tls.key", certs / "ca.crt")
    with running_server(tmp, [policies.root], cert=cert) as server:
        apiserver = Apiserver(
            host=f"{ref['name']}.{ref['namespace']}.svc",
            path=ref["path"],
            timeout_seconds=hook["timeoutSeconds"],
            versions=hook["admissionReviewVersions"],
            ca_bundle=base64.b64decode(hook["clientConfig"]["caBundle"], validate=True),
            port=int(server.url.rsplit(":", 1)[1]),
        )
        yield apiserver, server


def test_pod_creation_through_the_rendered_configuration(cluster: Any) -> None:
    apiserver, _ = cluster
    version = apiserver.versions[0]  # the apiserver uses the first version it knows
    pod = gpu_pod()
    sent = review(pod, version=version)
    status, answer = apiserver.call(sent)
    assert status == 200
    assert answer["apiVersion"] == f"admission.k8s.io/{version}"
    assert answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == sent["request"]["uid"]
    assert answer["response"]["allowed"] is True
    assert answer["response"]["patchType"] == "JSONPatch"
    ops = patch_of(answer)  # standard base64 with padding, as Go decodes it
    created = kubectl_patch(pod, ops)
    validate_pod(created)
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in created[
        "spec"
    ]["tolerations"]
    required = created["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert {"key": "ng-name", "operator": "In", "values": ["g1"]} in required["nodeSelectorTerms"][
        0
    ]["matchExpressions"]
    # Reinvocation (reinvocationPolicy: IfNeeded) sends the patched pod back: nothing more.
    status, again = apiserver.call(review(created, version=version))
    assert status == 200
    check_response(again["response"], patched=False)


def test_every_configured_review_version_is_answered_in_kind(cluster: Any) -> None:
    apiserver, _ = cluster
    for version in apiserver.versions:
        status, answer = apiserver.call(review(gpu_pod(), version=version))
        assert status == 200
        assert answer["apiVersion"] == f"admission.k8s.io/{version}"
        check_response(answer["response"])


def test_the_certificate_is_verified_for_the_service_name_only(cluster: Any) -> None:
    apiserver, _ = cluster
    with pytest.raises(ssl.SSLCertVerificationError):
        apiserver.call(review(gpu_pod()), server_name="other.pod-placement-webhook.svc")


def test_a_bundle_from_another_ca_is_refused(cluster: Any, tmp_path: Path) -> None:
    apiserver, _ = cluster
    subprocess.run([str(BIN), "certs", "--out", str(tmp_path)], check=True, capture_output=True)
    stranger = Apiserver(**{**apiserver.__dict__, "ca_bundle": (tmp_path / "ca.crt").read_bytes()})
    with pytest.raises(ssl.SSLCertVerificationError):
        stranger.call(review(gpu_pod()))
