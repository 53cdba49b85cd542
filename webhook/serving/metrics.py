"""Prometheus metrics, served as `/metrics` on the plain-HTTP health port.

Counts and latencies are recorded on the request path; the state of the policy store and of
the namespace view (policy set hash, policy count, reloads, synced) is read at scrape time, so
those modules need no knowledge of Prometheus.

With `serve --workers N` the workers share the health port, so a scrape reaches one worker at
random: set PROMETHEUS_MULTIPROC_DIR (an empty writable directory) and the request-path series
are summed over all workers (prometheus-client's multiprocess mode; docs/observability.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from webhook.engine import CompiledPolicySet
from webhook.policy import PolicyStore
from webhook.serving.admission import Outcome
from webhook.serving.connections import ConnectionCount
from webhook.serving.tls import LoadedCertificate

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "placement_webhook"

# Engine work is tens of microseconds; a review waiting behind a busy event loop or a slow
# client can take seconds, and the apiserver gives up at the webhook's timeoutSeconds (<= 30).
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

RESULTS = ("patched", "unchanged", "skipped", "error", "invalid")


class NamespaceSource(Protocol):
    """What the metrics read from the namespace view (webhook.namespaces.NamespaceView)."""

    @property
    def synced(self) -> bool: ...

    def __len__(self) -> int: ...

    relists: int
    unknown_answers: int


class CertificateSource(Protocol):
    """What the metrics read from the certificate reloader (webhook.tls.CertificateReloader)."""

    current: LoadedCertificate
    reloads: int
    failures: int
    last_error: str | None


class _CertificateCollector:
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


class _StateCollector:
    """Series read from the store, the namespace view and the connection count when
    Prometheus scrapes."""

    def __init__(
        self,
        store: PolicyStore[CompiledPolicySet],
        namespaces: NamespaceSource | None,
        connections: ConnectionCount | None = None,
    ) -> None:
        self.store = store
        self.namespaces = namespaces
        self.connections = connections

    def collect(self) -> Iterator[Metric]:
        source = self.store.source
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
        yield from self._connection_series()
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

    def _connection_series(self) -> Iterator[Metric]:
        count = self.connections
        if count is None:
            return
        yield GaugeMetricFamily(
            f"{PREFIX}_connections_open",
            "Connections open on the webhook port, TLS handshakes in progress included.",
            value=count.open,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_connections_refused",
            "New connections closed at once because --max-connections were open.",
            value=count.refused,
        )


class Metrics:
    """The webhook's metrics in a registry of their own (tests run several servers at once)."""

    def __init__(
        self,
        store: PolicyStore[CompiledPolicySet],
        namespaces: NamespaceSource | None = None,
        connections: ConnectionCount | None = None,
    ) -> None:
        self.store = store
        # The `_created` series double the series count and no dashboard here reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=False)
        self.reviews = Counter(
            f"{PREFIX}_reviews",
            "AdmissionReviews answered, by result: patched, unchanged, skipped (not a pod "
            "CREATE), error (internal error: pod admitted unchanged), invalid (HTTP 400).",
            ["result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            f"{PREFIX}_review_duration_seconds",
            "Time from request received to response ready, per AdmissionReview.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.patches = Counter(
            f"{PREFIX}_policy_patches",
            "Pods a policy changed.",
            ["policy"],
            registry=self.registry,
        )
        self.audits = Counter(
            f"{PREFIX}_policy_audits",
            "Pods an audit-mode policy would have changed (nothing was applied).",
            ["policy"],
            registry=self.registry,
        )
        self.errors = Counter(
            f"{PREFIX}_policy_errors",
            "Times a policy failed on a pod and was skipped (the pod was still admitted).",
            ["policy"],
            registry=self.registry,
        )
        self.refused = Counter(
            f"{PREFIX}_placement_refused",
            "Pods a policy's placement was not added to, because with it the pod would have "
            "fit none of the set's node pools (the pod was admitted with the rest).",
            ["policy"],
            registry=self.registry,
        )
        # Children looked up once: `labels()` costs more than the increment it leads to.
        self._children: dict[tuple[int, str], Any] = {}
        for result in RESULTS:
            self._child(self.reviews, result)
        self.state = _StateCollector(store, namespaces, connections)
        self.registry.register(self.state)
        self.certificates: _CertificateCollector | None = None

    def watch_certificates(self, source: CertificateSource) -> None:
        """Export the serving certificate's expiry and reloads."""
        self.certificates = _CertificateCollector(source)
        self.registry.register(self.certificates)

    def _child(self, counter: Counter, label: str) -> Any:
        key = (id(counter), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(label)
        return child

    def observe_review(self, outcome: Outcome, seconds: float) -> None:
        self._child(self.reviews, outcome.result).inc()
        self.duration.observe(seconds)
        for name in outcome.applied:
            self._child(self.patches, name).inc()
        for name in outcome.audited:
            self._child(self.audits, name).inc()
        for name in outcome.failed:
            self._child(self.errors, name).inc()
        for name in outcome.refused:
            self._child(self.refused, name).inc()

    def observe_invalid(self, seconds: float) -> None:
        self._child(self.reviews, "invalid").inc()
        self.duration.observe(seconds)

    def render(self) -> bytes:
        # Every loaded policy gets its series at 0, so rate() and alerts see a policy that has
        # not fired yet instead of no data.
        for policy in self.store.current.policies:
            self._child(self.patches, policy.name)
            self._child(self.errors, policy.name)
            if self.store.current.pools:
                self._child(self.refused, policy.name)
            if policy.policy.spec.mode == "audit":
                self._child(self.audits, policy.name)
        registry = self.registry
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            # Request-path series from every worker's files; state from this worker, which
            # loads the same policy files as the others.
            registry = CollectorRegistry(auto_describe=False)
            multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
            registry.register(self.state)
            if self.certificates is not None:
                registry.register(self.certificates)
        body: bytes = generate_latest(registry)
        return body
