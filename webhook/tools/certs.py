"""Certificates: a development certificate for a first local run, and a CA plus a serving
certificate for a cluster (the names kube-apiserver verifies: `<service>.<namespace>.svc`)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(common_name: str, days: int = 3650) -> tuple[KeyPair, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)), key


def make_serving_cert(
    dns_names: list[str],
    ip_addresses: list[str],
    ca: KeyPair,
    ca_key: ec.EllipticCurvePrivateKey,
    days: int = 365,
) -> KeyPair:
    """A serving certificate with the names as SANs (no CN-only: Go refuses those since 1.15)."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def ensure_dev_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """(cert, key, ca) for localhost and 127.0.0.1 in `directory`, made once and then reused."""
    cert_path, key_path, ca_path = (directory / n for n in ("tls.crt", "tls.key", "ca.crt"))
    if cert_path.exists() and key_path.exists() and ca_path.exists():
        return cert_path, key_path, ca_path
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = make_ca("pod-placement-webhook development CA")
    serving = make_serving_cert(["localhost"], ["127.0.0.1", "::1"], ca, ca_key)
    write_private(key_path, serving.key_pem)
    cert_path.write_bytes(serving.cert_pem)
    ca_path.write_bytes(ca.cert_pem)
    return cert_path, key_path, ca_path


def write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def load_ca(cert_file: Path, key_file: Path) -> tuple[KeyPair, ec.EllipticCurvePrivateKey]:
    """A CA written earlier by `write_cluster_certificates`, to sign a renewed serving cert."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_file}: expected an EC private key")
    return KeyPair(cert_file.read_bytes(), key_file.read_bytes()), key


def service_names(service: str, namespace: str) -> list[str]:
    """Every name a client may use for the Service; kube-apiserver verifies `S.N.svc`."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


CLUSTER_FILES = (
    "ca.crt",
    "ca.key",
    "tls.crt",
    "tls.key",
    "secret.yaml",
    "cabundle-patch.yaml",
    "kustomization.yaml",
)


def write_cluster_certificates(
    service: str, namespace: str, out: Path, new_ca: bool = False
) -> list[Path]:
    """A serving certificate for `<service>.<namespace>.svc` and the files to install it.

    The CA in `out` is reused when present, so renewing the serving certificate leaves the
    webhook configuration's caBundle unchanged and no call fails during the switch. With
    `new_ca` (or no CA yet) a new CA is made; the previous one, if any, stays in the caBundle
    next to it until the next run, so the apiserver trusts both while pods pick up the new
    certificate.

    Written: ca.crt, ca.key, tls.crt, tls.key; secret.yaml (the kubernetes.io/tls Secret the
    Deployment mounts); cabundle-patch.yaml (a JSON Patch for the MutatingWebhookConfiguration,
    for `kubectl patch --type=json --patch-file` or a kustomize `patches:` entry); and
    kustomization.yaml (a kustomize Component with both, for an overlay's `components:`).
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = {n: out / n for n in CLUSTER_FILES}
    previous_ca = paths["ca.crt"].read_bytes() if paths["ca.crt"].exists() else None
    if previous_ca is not None and paths["ca.key"].exists() and not new_ca:
        ca, ca_key = load_ca(paths["ca.crt"], paths["ca.key"])
        bundle = ca.cert_pem
    else:
        ca, ca_key = make_ca(f"{service}.{namespace} webhook CA")
        bundle = ca.cert_pem + (previous_ca or b"")
    serving = make_serving_cert(service_names(service, namespace), [], ca, ca_key)
    write_private(paths["ca.key"], ca.key_pem)
    paths["ca.crt"].write_bytes(ca.cert_pem)
    paths["tls.crt"].write_bytes(serving.cert_pem)
    write_private(paths["tls.key"], serving.key_pem)
    write_private(paths["secret.yaml"], _dump(_secret(service, namespace, serving, ca)).encode())
    paths["cabundle-patch.yaml"].write_text(_dump(_cabundle_patch(bundle)))
    paths["kustomization.yaml"].write_text(_dump(_component(service)))
    return list(paths.values())


def _dump(value: object) -> str:
    import yaml

    return yaml.safe_dump(value, sort_keys=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _secret(service: str, namespace: str, serving: KeyPair, ca: KeyPair) -> dict[str, object]:
    """The kubernetes.io/tls Secret the Deployment mounts."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": f"{service}-tls", "namespace": namespace},
        "data": {
            "tls.crt": _b64(serving.cert_pem),
            "tls.key": _b64(serving.key_pem),
            "ca.crt": _b64(ca.cert_pem),
        },
    }


# The entries of deploy/base/mutatingwebhookconfiguration.yaml: pods, and workload retries.
WEBHOOK_ENTRIES = 2


def _cabundle_patch(bundle: bytes) -> list[dict[str, object]]:
    """A JSON Patch that sets the caBundle of each of the webhook configuration's entries."""
    return [
        {"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": _b64(bundle)}
        for i in range(WEBHOOK_ENTRIES)
    ]


def _component(service: str) -> dict[str, object]:
    """A kustomize Component with the Secret and the caBundle patch, for `components:`."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "resources": ["secret.yaml"],
        "patches": [
            {
                "path": "cabundle-patch.yaml",
                "target": {
                    "group": "admissionregistration.k8s.io",
                    "kind": "MutatingWebhookConfiguration",
                    "name": service,
                },
            }
        ],
    }
