"""Prometheus metrics, served as `/metrics` on the plain-HTTP health port.

Counts and latencies are recorded on the request path here; the state of the policy store,
the certificate, the connections and the namespace view is read at scrape time
(`state_metrics.py`).

With `serve --workers N` the workers share the health port, so a scrape reaches one worker at
random: set PROMETHEUS_MULTIPROC_DIR (an empty writable directory) and the request-path series
are summed over all workers (prometheus-client's multiprocess mode; docs/observability.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from webhook.engine import INTENTS, CompiledPolicySet
from webhook.policy import PolicyStore
from webhook.serving.admission import Outcome
from webhook.serving.audit import whole_set_audited
from webhook.serving.connections import PortConnections
from webhook.serving.state_metrics import (
    PREFIX,
    CertificateCollector,
    CertificateSource,
    NamespaceSource,
    StateCollector,
)
from webhook.workloads import REFUSALS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Engine work is tens of microseconds; a review waiting behind a busy event loop or a slow
# client can take seconds, and the apiserver gives up at the webhook's timeoutSeconds (<= 30).
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

RESULTS = ("patched", "unchanged", "skipped", "error", "invalid", "audited")


class Metrics:
    """The webhook's metrics in a registry of their own (tests run several servers at once)."""

    def __init__(
        self,
        store: PolicyStore[CompiledPolicySet],
        namespaces: NamespaceSource | None = None,
        ports: Sequence[PortConnections] = (),
    ) -> None:
        self.store = store
        # The `_created` series double the series count and no dashboard here reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=False)
        self.reviews = self._counter(
            "reviews",
            "AdmissionReviews answered, by result: patched, unchanged, skipped (not a pod "
            "CREATE), error (internal error: pod admitted unchanged), invalid (HTTP 400), "
            "audited (the whole set in audit mode: would have patched, answered without).",
            "result",
        )
        self.duration = Histogram(
            f"{PREFIX}_review_duration_seconds",
            "Time from request received to response ready, per AdmissionReview.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.patches = self._counter("policy_patches", "Pods a policy changed.")
        self.audits = self._counter(
            "policy_audits",
            "Pods an audit-mode policy, or any policy of a set in audit mode, would have changed "
            "(nothing was applied).",
        )
        self.errors = self._counter(
            "policy_errors",
            "Times a policy failed on a pod and was skipped (the pod was still admitted).",
        )
        self.refused = self._counter(
            "placement_refused",
            "Pods a policy's placement was not added to, because with it the pod as sent would "
            "have broken an intent of the set: fit no node pool, land where its extended "
            "resources are not offered, or on spot though kept off it (the pod was admitted "
            "with the rest).",
        )
        self.refused_intents = self._counter(
            "placement_refused_by_intent",
            "Placements not added (see placement_refused_total), by the intent they would have "
            "broken: runnable, resources, off-spot.",
            "intent",
        )
        self.skipped = self._counter(
            "policy_skipped",
            "Pods a policy whose match or exclude reads the namespace's labels was skipped "
            "for, because those labels were unknown (the namespace view not synced, or the "
            "namespace not found).",
        )
        self.invalid = self._counter(
            "policy_invalid",
            "Pods a policy was not applied to, because with its additions kube-apiserver would "
            "have refused the pod (HTTP 422); the pod was admitted with the rest.",
        )
        self.retries_added = self._counter(
            "retries_added",
            "Jobs, CronJobs and Argo workflows a RetryPolicy gave retries to, because the set "
            "sends their pods to spot.",
        )
        self.retries_refused = Counter(
            f"{PREFIX}_retries_refused",
            "Jobs, CronJobs and workflows whose pods go to spot that a RetryPolicy could not "
            "give retries to (the object was admitted without them), by reason: "
            + ", ".join(REFUSALS)
            + ".",
            ["policy", "reason"],
            registry=self.registry,
        )
        # Children looked up once: `labels()` costs more than the increment it leads to.
        self._children: dict[tuple[Any, ...], Any] = {}
        for result in RESULTS:
            self._child(self.reviews, result)
        for intent in INTENTS:
            self._child(self.refused_intents, intent)
        self.state = StateCollector(store, namespaces, ports)
        self.registry.register(self.state)
        self.certificates: CertificateCollector | None = None

    def _counter(self, name: str, documentation: str, label: str = "policy") -> Counter:
        return Counter(f"{PREFIX}_{name}", documentation, [label], registry=self.registry)

    def watch_certificates(self, source: CertificateSource) -> None:
        """Export the serving certificate's expiry and reloads."""
        self.certificates = CertificateCollector(source)
        self.registry.register(self.certificates)

    def _child(self, counter: Counter, label: str, *more: str) -> Any:
        key = (id(counter), label, *more)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(label, *more)
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
        for intent in outcome.refused_intents:
            self._child(self.refused_intents, intent).inc()
        for name in outcome.skipped:
            self._child(self.skipped, name).inc()
        for name in outcome.invalid:
            self._child(self.invalid, name).inc()
        for name in outcome.retries:
            self._child(self.retries_added, name).inc()
        for name, reason in outcome.retries_refused:
            self._child(self.retries_refused, name, reason).inc()

    def _forget_unloaded(self, loaded: set[str]) -> None:
        """Drop the series of policies the set in force no longer has: a set renamed on every
        release would otherwise add its policies' series until the next restart."""
        per_policy = {
            id(c): c
            for c in (
                self.patches,
                self.audits,
                self.errors,
                self.refused,
                self.invalid,
                self.skipped,
                self.retries_added,
                self.retries_refused,
            )
        }
        for key in [k for k in self._children if k[0] in per_policy and k[1] not in loaded]:
            per_policy[key[0]].remove(*key[1:])
            del self._children[key]

    def _zero_series(self, current: CompiledPolicySet) -> None:
        """Every loaded policy gets its series at 0, so that increase() sees its first event
        (a series born at 1 shows no increase) and rate() a policy that has not fired yet."""
        audited = whole_set_audited(current)
        for policy in current.policies:
            for counter in (self.patches, self.errors, self.invalid):
                self._child(counter, policy.name)
            if current.pools:  # only a set with pools refuses a placement
                self._child(self.refused, policy.name)
            if policy.reads_namespace_labels:
                self._child(self.skipped, policy.name)
            if audited or policy.mode == "audit":
                self._child(self.audits, policy.name)
        for retry in current.source.retries:
            self._child(self.retries_added, retry.name)
            for reason in REFUSALS:
                self._child(self.retries_refused, retry.name, reason)

    def observe_invalid(self, seconds: float) -> None:
        self._child(self.reviews, "invalid").inc()
        self.duration.observe(seconds)

    def render(self) -> bytes:
        current = self.store.current
        self._forget_unloaded(
            {p.name for p in current.policies} | {r.name for r in current.source.retries}
        )
        self._zero_series(current)
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
