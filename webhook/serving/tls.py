"""The serving certificate, reloaded from disk when it changes: no restart, no dropped connection.

A new certificate and key are loaded into a fresh SSLContext and only then made current, so a
torn or bad pair never replaces a working one (loading into the live context would leave it
with the new certificate and no key if the key did not match). New handshakes pick the current
context through the SNI callback, which OpenSSL calls for every ClientHello, with or without a
server name; open connections keep the context they were made with.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from webhook.kube.mounts import read_stable

log = logging.getLogger("webhook.tls")


class CertificateError(Exception):
    """A certificate and key that cannot serve: unreadable, malformed or not a pair."""


@dataclass(frozen=True)
class LoadedCertificate:
    context: ssl.SSLContext
    digest: str
    serial: int
    not_after: str


def load_certificate(
    cert_file: Path, key_file: Path, prepare: Callable[[ssl.SSLContext], None]
) -> LoadedCertificate:
    """A server SSLContext for the pair, read from one version of a kubelet-mounted Secret."""
    return read_stable([cert_file, key_file], lambda paths: _load(paths[0], paths[1], prepare))


def _load(
    cert_file: Path, key_file: Path, prepare: Callable[[ssl.SSLContext], None]
) -> LoadedCertificate:
    cert_pem, key_pem = cert_file.read_bytes(), key_file.read_bytes()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    prepare(context)
    try:
        context.load_cert_chain(cert_file, key_file)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise CertificateError(f"{cert_file}, {key_file}: {exc}") from None
    # The digest covers the bytes actually loaded: read_stable has checked that no swap
    # happened between these reads and load_cert_chain's own.
    digest = hashlib.sha256(cert_pem + b"\0" + key_pem).hexdigest()
    return LoadedCertificate(
        context, digest, cert.serial_number, cert.not_valid_after_utc.isoformat()
    )


def _digest_of_files(paths: tuple[Path, ...]) -> str:
    return hashlib.sha256(paths[0].read_bytes() + b"\0" + paths[1].read_bytes()).hexdigest()


class CertificateReloader:
    """Keeps a listening SSLContext serving the newest valid certificate found on disk."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        prepare: Callable[[ssl.SSLContext], None] = lambda context: None,
    ) -> None:
        self.cert_file, self.key_file, self.prepare = cert_file, key_file, prepare
        self.current = load_certificate(cert_file, key_file, prepare)
        self.reloads = 0
        self.failures = 0
        self.last_error: str | None = None
        self._refused: str | None = None

    def install(self, listening: ssl.SSLContext) -> None:
        """Make `listening` (the context the server socket was created with) hand every new
        handshake to the current certificate."""
        listening.sni_callback = self._select

    def _select(
        self, connection: ssl.SSLObject, server_name: str | None, listening: ssl.SSLContext
    ) -> None:
        connection.context = self.current.context

    def check(self) -> bool | None:
        """Reload if the files changed: True when reloaded, False when the new pair was
        refused (logged and counted once per distinct content), None when unchanged."""
        try:
            digest = read_stable([self.cert_file, self.key_file], _digest_of_files)
        except OSError as exc:
            # A missing file while kubelet rewrites the volume, or a Secret being recreated:
            # keep serving and look again at the next poll.
            log.warning("cannot read the certificate, keeping the current one: %s", exc)
            return None
        if digest in (self.current.digest, self._refused):
            return None
        try:
            fresh = load_certificate(self.cert_file, self.key_file, self.prepare)
        except (CertificateError, OSError) as exc:
            self._refused, self.last_error = digest, str(exc)
            self.failures += 1
            log.error("certificate reload refused, keeping serial %x: %s", self.current.serial, exc)
            return False
        self.current, self._refused, self.last_error = fresh, None, None
        self.reloads += 1
        log.info("certificate reloaded: serial %x, valid until %s", fresh.serial, fresh.not_after)
        return True

    async def watch(self, interval: float) -> None:
        """Check every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.check()
            except Exception:
                # As for policies: the watch must outlive a bug in one check.
                log.exception("certificate watch failed, retrying at the next poll")
