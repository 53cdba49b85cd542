"""Pods of the worst shapes: what each costs grows linearly with its size (the figures are in
`make bench`, bench/worst_shapes.py), and a big one is reviewed off the event loop, so the
reviews and probes that arrive meanwhile are answered at once.

The shapes are what any user allowed to create pods can send: thousands of distinct extended
resource names, nodeSelector keys, ORed nodeSelectorTerms, containers.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

from bench import worst_shapes
from tests.kube import apply_both
from tests.pods import plain
from tests.scraping import client, response_of, send
from tests.servers import running_server
from webhook.engine import mutate
from webhook.serving.app import OFFLOAD_BYTES


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


def test_a_big_review_does_not_stall_the_probes_or_other_reviews(tmp_path: Path) -> None:
    """A 3 MiB pod of ORed terms costs about half a second here. A probe and a small review
    sent while it is reviewed are answered in a small part of that time: the big one runs on
    a thread. (Were it on the event loop, they would wait for the rest of it.) Judged against
    the big review's own time, so a slower machine changes nothing."""
    policies = worst_shapes.write_policies(tmp_path / "policies")
    big = worst_shapes.body_of(worst_shapes.terms_pod(36_000))  # 2.8 MiB
    small = worst_shapes.body_of(worst_shapes.terms_pod(1))
    took: dict[str, float] = {}
    with running_server(tmp_path, [policies], ["--workers", "1"]) as server:

        def review_big() -> None:
            with client(server) as http:
                started = time.monotonic()
                assert "patch" in response_of(send(http, big))
                took["big"] = time.monotonic() - started

        worker = threading.Thread(target=review_big)
        with client(server) as http:
            send(http, small)  # connected and warm
            worker.start()
            time.sleep(0.15)  # the big body is sent (3 MiB over loopback) and under review
            started = time.monotonic()
            with urllib.request.urlopen(server.health_url + "/healthz", timeout=10) as reply:
                assert reply.status == 200
            response_of(send(http, small))
            took["probe and small review"] = time.monotonic() - started
        worker.join(timeout=60)
    assert took["probe and small review"] < took["big"] / 3, took


def test_the_offload_threshold_is_far_above_real_pods() -> None:
    """Real pods (the workload cases, a 40-container pipeline pod) stay on the event loop:
    the hand-off costs more than they do."""
    from bench import pods

    assert max(len(pods.review_body(size)) for size in pods.PODS) < OFFLOAD_BYTES
