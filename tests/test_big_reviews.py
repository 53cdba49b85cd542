"""Pods of the worst shapes: what each costs grows linearly with its size (the figures are in
`make bench`, bench/worst_shapes.py), and a big one is reviewed off the event loop, so the
reviews and probes that arrive meanwhile are answered.

The shapes are what any user allowed to create pods can send: thousands of distinct extended
resource names, nodeSelector keys, ORed nodeSelectorTerms, containers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from bench import worst_shapes
from tests.kube import apply_both
from tests.pods import plain
from tests.reviews import AppClient
from tests.scraping import response_of
from webhook.engine import mutate
from webhook.serving.app import create_webhook_app
from webhook.serving.mutate_route import OFFLOAD_BYTES
from webhook.serving.serve import load_store

JSON = {"Content-Type": "application/json"}


def test_every_worst_shape_is_placed_whole() -> None:
    """The same answer as for a small pod of the shape: every term gets the expressions, the
    pod gets a toleration per extended resource; the patch applies with kubectl."""
    policies = worst_shapes.policy_set()
    for shape in worst_shapes.SHAPES:
        pod = plain(shape.make(300))
        result = mutate(policies, pod, worst_shapes.NAMESPACE)
        assert result.applied, shape.name
        after = apply_both(pod, result.ops)
        shape.check(pod, after, 300)


def on_the_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_a_big_review_runs_off_the_event_loop(tmp_path: Path) -> None:
    """A body past OFFLOAD_BYTES is reviewed on a thread, so while it costs its milliseconds
    the event loop goes on answering other reviews and the probes; a usual one is reviewed on
    the loop, where the hand-off would cost more than the review. The namespace lookup, the
    one call a review makes out of the engine, tells where each review ran."""
    ran_on_the_loop: list[bool] = []

    def namespace_labels(namespace: str) -> tuple[dict[str, str], None]:
        ran_on_the_loop.append(on_the_event_loop())
        return {}, None

    store = load_store([worst_shapes.write_policies(tmp_path / "policies")])
    app = create_webhook_app(store, namespace_labels)
    http = AppClient(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://webhook.test")
    )
    small = worst_shapes.body_of(worst_shapes.terms_pod(1))
    big = worst_shapes.body_of(worst_shapes.terms_pod(2_000))
    assert len(small) < OFFLOAD_BYTES < len(big)
    try:
        for body in (small, big):
            reply = http.post("/mutate", content=body, headers=JSON)
            assert "patch" in response_of(reply)
    finally:
        http.close()
    assert ran_on_the_loop == [True, False]


def test_the_offload_threshold_is_far_above_real_pods() -> None:
    """Real pods (the workload cases, a 40-container pipeline pod) stay on the event loop:
    the hand-off costs more than they do."""
    from bench import pods

    assert max(len(pods.review_body(size)) for size in pods.PODS) < OFFLOAD_BYTES
