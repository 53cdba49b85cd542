"""The webhook's requests handled without any web framework: bytes in, status and bytes out.

Timing, the log line and the metrics of each review live here, around `admission.handle`; the
routes (`app.py`) only pass bodies through, so another ASGI framework would change routes only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import orjson

from webhook import __version__
from webhook.engine import CompiledPolicySet
from webhook.errors import ReviewError
from webhook.policy import PolicyStore
from webhook.serving.admission import NamespaceLabels, Outcome, handle
from webhook.serving.audit import whole_set_audited
from webhook.serving.metrics import Metrics

log = logging.getLogger("webhook.server")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def log_review(outcome: Outcome, seconds: float) -> None:
    # In one `fields` mapping: logging copies it into the record in one step (logs.py).
    log.info(
        "review",
        extra={
            "fields": {
                "uid": outcome.uid,
                "namespace": outcome.namespace,
                "pod": outcome.name,
                "result": outcome.result,
                "mode": outcome.mode,
                "policies": outcome.applied,
                "audited": outcome.audited,
                "failed": outcome.failed,
                "refused": outcome.refused,
                "intents": outcome.refused_intents,
                "invalid": outcome.invalid,
                "skipped": outcome.skipped,
                "patch_ops": outcome.patch_ops,
                "would_add": outcome.would_add,
                "warnings": len(outcome.warnings),
                "duration_ms": round(seconds * 1000, 3),
            }
        },
    )


class MutateHandler:
    """`POST /mutate`: one AdmissionReview answered with the policy set in force."""

    def __init__(
        self,
        store: PolicyStore[CompiledPolicySet],
        namespace_labels: NamespaceLabels | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store, self.namespace_labels, self.metrics = store, namespace_labels, metrics

    def __call__(self, body: bytes) -> Answer:
        started = time.perf_counter()
        try:
            answer, outcome = handle(self.store.current, body, self.namespace_labels)
        except ReviewError as exc:
            if self.metrics is not None:
                self.metrics.observe_invalid(time.perf_counter() - started)
            return Answer(400, error_body(exc.message))
        seconds = time.perf_counter() - started
        log_review(outcome, seconds)
        if self.metrics is not None:
            self.metrics.observe_review(outcome, seconds)
        return Answer(200, answer)


def readiness(store: PolicyStore[CompiledPolicySet]) -> bytes:
    """`/readyz`: ready even after a refused reload, since the last good set serves; failing
    the probe on every replica would take the whole webhook out of the Service."""
    return orjson.dumps(
        {
            "status": "ok",
            "version": __version__,
            "mode": "audit" if whole_set_audited(store.current) else "enforce",
            "policies": len(store.source.policies),
            "pools": len(store.source.pools),
            "digest": store.digest,
            "reloadFailures": store.reloads["failure"],
            "lastReloadError": store.last_error,
        }
    )
