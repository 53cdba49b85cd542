"""Certificates: a development certificate for a first local run, and a CA plus a serving
certificate for a cluster (the names kube-apiserver verifies: `<service>.<namespace>.svc`)."""

from __future__ import annotations

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


def write_cluster_certificates(service: str, namespace: str, out: Path) -> list[Path]:
    """A CA and a serving certificate for `<service>.<namespace>.svc`, plus the TLS Secret
    manifest and a kustomize patch that puts the CA into the webhook configuration."""
    import base64

    import yaml

    out.mkdir(parents=True, exist_ok=True)
    names = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    ca, ca_key = make_ca(f"{service}.{namespace} webhook CA")
    serving = make_serving_cert(names, [], ca, ca_key)
    paths = {
        n: out / n for n in ("ca.crt", "tls.crt", "tls.key", "secret.yaml", "cabundle-patch.yaml")
    }
    paths["ca.crt"].write_bytes(ca.cert_pem)
    paths["tls.crt"].write_bytes(serving.cert_pem)
    write_private(paths["tls.key"], serving.key_pem)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": f"{service}-tls", "namespace": namespace},
        "data": {
            "tls.crt": base64.b64encode(serving.cert_pem).decode(),
            "tls.key": base64.b64encode(serving.key_pem).decode(),
            "ca.crt": base64.b64encode(ca.cert_pem).decode(),
        },
    }
    write_private(paths["secret.yaml"], yaml.safe_dump(secret, sort_keys=False).encode())
    patch = [
        {
            "op": "add",
            "path": "/webhooks/0/clientConfig/caBundle",
            "value": base64.b64encode(ca.cert_pem).decode(),
        }
    ]
    paths["cabundle-patch.yaml"].write_text(yaml.safe_dump(patch, sort_keys=False))
    return list(paths.values())
