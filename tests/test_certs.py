"""`placement-webhook certs`: a CA and a serving certificate that kube-apiserver accepts, and the
files that install them (TLS Secret, caBundle patch, kustomize Component)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.kube import K8S_VERSION, kubectl

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "placement-webhook"
SERVICE, NAMESPACE = "pod-placement-webhook", "pod-placement-webhook"


def certs(out: Path, *extra: str) -> list[Path]:
    done = subprocess.run(
        [
            str(BIN),
            "certs",
            "--service",
            SERVICE,
            "--namespace",
            NAMESPACE,
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return [Path(line) for line in done.stdout.splitlines()]


def pems(bundle: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(bundle)


def bundle_of(out: Path) -> bytes:
    ops = yaml.safe_load((out / "cabundle-patch.yaml").read_text())
    assert ops == [
        {"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": ops[0]["value"]}
        for i in (0, 1)  # the pod entry and the workload retries entry
    ]
    return base64.b64decode(ops[0]["value"], validate=True)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    written = certs(out)
    assert {p.name for p in written} == {
        "ca.crt",
        "ca.key",
        "tls.crt",
        "tls.key",
        "secret.yaml",
        "cabundle-patch.yaml",
        "kustomization.yaml",
    }
    return out


def test_serving_certificate_names_the_service_as_the_apiserver_calls_it(made: Path) -> None:
    cert = x509.load_pem_x509_certificate((made / "tls.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        SERVICE,
        f"{SERVICE}.{NAMESPACE}",
        f"{SERVICE}.{NAMESPACE}.svc",
        f"{SERVICE}.{NAMESPACE}.svc.cluster.local",
    ]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    (ca,) = pems(bundle_of(made))
    cert.verify_directly_issued_by(ca)


def test_private_files_are_private(made: Path) -> None:
    for name in ("ca.key", "tls.key", "secret.yaml"):
        assert (made / name).stat().st_mode & 0o077 == 0, name


def test_secret_is_the_one_the_deployment_mounts(made: Path) -> None:
    secret = yaml.safe_load((made / "secret.yaml").read_text())
    kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"] == {"name": f"{SERVICE}-tls", "namespace": NAMESPACE}
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert data["tls.crt"] == (made / "tls.crt").read_bytes()
    assert data["tls.key"] == (made / "tls.key").read_bytes()
    rendered = render(REPO / "deploy")
    (deployment,) = [o for o in rendered if o["kind"] == "Deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "tls",
        "secret": {"secretName": f"{SERVICE}-tls", "defaultMode": 0o440},
    } in volumes


def render(directory: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=True
    )
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_component_adds_secret_and_ca_bundle_to_an_overlay(made: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(REPO / "deploy", overlay)],
                "components": [os.path.relpath(made, overlay)],
            }
        )
    )
    rendered = render(overlay)
    (hook,) = [o for o in rendered if o["kind"] == "MutatingWebhookConfiguration"]
    for entry in hook["webhooks"]:
        assert base64.b64decode(entry["clientConfig"]["caBundle"]) == bundle_of(made)
    (secret,) = [o for o in rendered if o["kind"] == "Secret"]
    assert secret["metadata"]["name"] == f"{SERVICE}-tls"


def test_renewal_keeps_the_ca_so_the_ca_bundle_does_not_change(tmp_path: Path) -> None:
    out = tmp_path / "c"
    certs(out)
    ca, bundle, leaf = (out / "ca.crt").read_bytes(), bundle_of(out), (out / "tls.crt").read_bytes()
    certs(out)
    assert (out / "ca.crt").read_bytes() == ca
    assert bundle_of(out) == bundle
    renewed = (out / "tls.crt").read_bytes()
    assert renewed != leaf
    x509.load_pem_x509_certificate(renewed).verify_directly_issued_by(pems(ca)[0])


def test_a_new_ca_is_trusted_next_to_the_old_one_until_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "c"
    certs(out)
    (old,) = pems((out / "ca.crt").read_bytes())
    certs(out, "--new-ca")
    (new,) = pems((out / "ca.crt").read_bytes())
    assert new != old
    assert pems(bundle_of(out)) == [new, old]
    x509.load_pem_x509_certificate((out / "tls.crt").read_bytes()).verify_directly_issued_by(new)
    certs(out)
    assert pems(bundle_of(out)) == [new]
