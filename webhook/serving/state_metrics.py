"""Metrics read at scrape time from what the server keeps anyway: the policy store, the
certificate in use, the webhook port's connections and the namespace view. Those modules need
no knowledge of Prometheus."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from webhook import __version__
from webhook.engine import CompiledPolicySet
from webhook.policy import PolicyStore
from webhook.serving.audit import whole_set_audited
from webhook.serving.connections import PortConnections
from webhook.serving.tls import LoadedCertificate

PREFIX = "placement_webhook"


class NamespaceSource(Protocol):
    """What the metrics read from the namespace view (webhook.namespaces.NamespaceView)."""

    @property
    def synced(self) -> bool: ...

    def __len__(self) -> int: ...

    relists: int
    unknown_answers: int
    direct_reads: int
    direct_read_failures: int


class CertificateSource(Protocol):
    """What the metrics read from the certificate reloader (webhook.tls.CertificateReloader)."""

    current: LoadedCertificate
    reloads: int
    failures: int
    last_error: str | None


class CertificateCollector:
    """The serving certificate's expiry and reloads, read when Prometheus scrapes: a refused
    renewal keeps the old certificate serving until it expires, and then every call fails."""

    def __init__(self, source: CertificateSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        source = self.source
        yield GaugeMetricFamily(
            f"{PREFIX}_certificate_expiry_timestamp_seconds",
            "When the serving certificate in use expires (Unix time).",
            value=datetime.fromisoformat(source.current.not_after).timestamp(),
        )
        reloads = CounterMetricFamily(
            f"{PREFIX}_certificate_reloads",
            "Serving certificate reloads by result; a refused pair keeps the current one.",
            labels=["result"],
        )
        reloads.add_metric(["success"], float(source.reloads))
        reloads.add_metric(["failure"], float(source.failures))
        yield reloads
        yield GaugeMetricFamily(
            f"{PREFIX}_certificate_reload_failing",
            "1 while the certificate files on disk are refused (the current one keeps serving).",
            value=0.0 if source.last_error is None else 1.0,
        )


class StateCollector:
    """Series read from the store, the namespace view and the ports' connections when
    Prometheus scrapes."""

    def __init__(
        self,
        store: PolicyStore[CompiledPolicySet],
        namespaces: NamespaceSource | None,
        ports: Sequence[PortConnections] = (),
    ) -> None:
        self.store = store
        self.namespaces = namespaces
        self.ports = ports

    def collect(self) -> Iterator[Metric]:
        yield from self._policy_series()
        yield from self._connection_series()
        yield from self._namespace_series()

    def _policy_series(self) -> Iterator[Metric]:
        source = self.store.source
        build = GaugeMetricFamily(
            f"{PREFIX}_build_info",
            "The running version (version label) is the value 1: two during an upgrade.",
            labels=["version"],
        )
        build.add_metric([__version__], 1.0)
        yield build
        info = GaugeMetricFamily(
            f"{PREFIX}_policy_set_info",
            "The policy set in force: its hash (digest label) is the value 1.",
            labels=["digest"],
        )
        info.add_metric([source.digest], 1.0)
        yield info
        yield GaugeMetricFamily(
            f"{PREFIX}_policies_loaded",
            "Number of policies in the set in force.",
            value=len(source.policies),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_audit_mode",
            "1 while the whole set is in audit mode (PolicySettings mode: audit, or serve "
            "--audit): reviews are answered without a patch.",
            value=1.0 if whole_set_audited(self.store.current) else 0.0,
        )
        reloads = CounterMetricFamily(
            f"{PREFIX}_policy_reloads",
            "Policy reloads by result; a failed reload keeps the last good set serving.",
            labels=["result"],
        )
        for result in ("success", "failure"):
            reloads.add_metric([result], float(self.store.reloads.get(result, 0)))
        yield reloads
        yield GaugeMetricFamily(
            f"{PREFIX}_policy_reload_failing",
            "1 while the policy files on disk are refused (the last good set keeps serving).",
            value=0.0 if self.store.last_error is None else 1.0,
        )

    def _namespace_series(self) -> Iterator[Metric]:
        view = self.namespaces
        if view is None:
            return
        yield GaugeMetricFamily(
            f"{PREFIX}_namespace_view_synced",
            "1 when the namespace label view follows the apiserver; 0 when it is not yet "
            "listed or its watch broke (namespaceSelector clauses then do not match).",
            value=1.0 if view.synced else 0.0,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_namespace_view_namespaces",
            "Namespaces held in the namespace label view.",
            value=len(view),
        )
        yield CounterMetricFamily(
            f"{PREFIX}_namespace_view_relists",
            "Full lists of Namespaces (at start, after a broken watch or 410 Gone).",
            value=view.relists,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_namespace_labels_unknown",
            "Reviews answered without their namespace's labels (view not synced, or the "
            "namespace not yet seen).",
            value=view.unknown_answers,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_namespace_direct_reads",
            "Namespaces read from the apiserver on a review's path because the view had not "
            "seen them yet.",
            value=view.direct_reads,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_namespace_direct_read_failures",
            "Those reads that failed (the review's namespace labels were then unknown).",
            value=view.direct_read_failures,
        )

    def _connection_series(self) -> Iterator[Metric]:
        if not self.ports:
            return
        opened = GaugeMetricFamily(
            f"{PREFIX}_connections_open",
            "Connections open on a port (webhook: TLS handshakes in progress included).",
            labels=["listener"],
        )
        refused = CounterMetricFamily(
            f"{PREFIX}_connections_refused",
            "New connections closed at once: their source held --max-connections-per-source "
            "(source_limit), or every connection was busy answering at the cap (full).",
            labels=["listener", "reason"],
        )
        closed = CounterMetricFamily(
            f"{PREFIX}_connections_closed_for_room",
            "Connections closed at the cap to make room for a new one: the one waiting longest "
            "for its client (waiting), else the longest idle of the busiest source (idle).",
            labels=["listener", "state"],
        )
        for port in self.ports:
            table = port.table
            opened.add_metric([port.name], table.open)
            for reason, count in table.refused.items():
                refused.add_metric([port.name, reason], count)
            for state, count in table.closed_for_room.items():
                closed.add_metric([port.name, state], count)
        yield from (opened, refused, closed)
