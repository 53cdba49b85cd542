"""Logs of the real server: one JSON line per review with who, where, what and how long, at the
level the operator sets with --log-level, and nothing of the pod's spec."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.pods import shipped
from tests.reviews import gpu_pod
from tests.reviews import review as admission_review
from tests.scraping import client, gpu_step, plain_pod, pod_review, response_of, send
from tests.servers import running_server
from webhook.serving.admission import handle
from webhook.serving.logs import BatchedStreamHandler, JsonFormatter

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-token-value"
IMAGE = "registry.example.com/trainer:1"


def serve_and_review(tmp_path: Path, level: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Sends two reviews to a server at `level`; returns its log, parsed, and the uids."""
    step = gpu_step(AWS_SECRET_ACCESS_KEY=SECRET)
    bodies = [pod_review(step, "ml"), pod_review(plain_pod("web", "kube-system"), "kube-system")]
    args = ["--log-level", level]
    with running_server(tmp_path, [REPO / "policies"], args) as server, client(server) as http:
        for body in bodies:
            response_of(send(http, body))
    text = server.log()
    assert SECRET not in text and IMAGE not in text, "pod spec contents in the log"
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return lines, [b["request"]["uid"] for b in bodies]


def reviews(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["msg"] == "review"]


def test_one_line_per_review_with_its_fields(tmp_path: Path):
    lines, uids = serve_and_review(tmp_path, "info")
    logged = reviews(lines)
    assert [r["uid"] for r in logged] == uids
    patched, unchanged = logged
    assert patched["level"] == "info"
    assert patched["logger"] == "webhook.server"
    assert patched["namespace"] == "ml"
    assert patched["pod"] == "train-", "generateName when the pod has no name yet"
    assert patched["result"] == "patched"
    assert patched["policies"] == [
        "extended-resource-tolerations",
        "batch-gpu-spot",
        "workflow-dns",
        "workflow-pack",
    ]
    assert patched["audited"] == [] and patched["failed"] == []
    assert patched["patch_ops"] == 5
    assert isinstance(patched["duration_ms"], float) and patched["duration_ms"] > 0
    assert (unchanged["pod"], unchanged["namespace"], unchanged["result"]) == (
        "web",
        "kube-system",
        "unchanged",
    )
    assert unchanged["policies"] == []


def test_the_review_line_holds_no_pod_content(tmp_path: Path):
    """Names, counts and policy names only: never the containers, env, images or the patch."""
    lines, _ = serve_and_review(tmp_path, "debug")
    for review in reviews(lines):
        assert set(review) == {
            "time", "level", "logger", "msg", "uid", "namespace", "pod", "result", "mode",
            "policies", "audited", "failed", "refused", "intents", "invalid", "skipped",
            "patch_ops", "would_add",
            "warnings", "duration_ms",
        }  # fmt: skip
        assert review["mode"] == "enforce" and review["would_add"] == []


@pytest.mark.parametrize("level", ["warning", "error"])
def test_review_lines_are_left_out_above_info(tmp_path: Path, level: str):
    lines, _ = serve_and_review(tmp_path, level)
    assert reviews(lines) == []
    assert all(line["level"] in ("warning", "error", "critical") for line in lines)


def test_every_line_is_json(tmp_path: Path):
    """Startup, uvicorn's own lines and shutdown too: a log pipeline parses every line."""
    lines, _ = serve_and_review(tmp_path, "debug")
    assert {"webhook.server", "uvicorn.error"} <= {line["logger"] for line in lines}
    for line in lines:
        assert {"time", "level", "logger", "msg"} <= set(line)
        assert not any("\033" in str(v) for v in line.values()), f"terminal colors: {line}"


def test_a_huge_generate_name_is_cut_in_the_review_line() -> None:
    """A 1 MiB generateName (the apiserver refuses it only after admission) would otherwise
    be written on every review of it."""
    pod = gpu_pod()
    pod["metadata"] = {"generateName": "x" * (1024 * 1024)}
    _, outcome = handle(shipped(), json.dumps(admission_review(pod)).encode())
    assert outcome.name == "x" * 253 + "..."


def test_uvicorns_lifecycle_lines_are_logged_once(tmp_path: Path):
    """The webhook and the health port are two uvicorn servers in one process: their start and
    stop lines would otherwise come twice."""
    lines, _ = serve_and_review(tmp_path, "info")
    lifecycle = [line["msg"] for line in lines if line["logger"] == "uvicorn.error"]
    assert "Application startup complete." in lifecycle and "Shutting down" in lifecycle
    assert len(lifecycle) == len(set(lifecycle)), lifecycle


def test_lines_of_one_loop_turn_are_written_together_and_a_warning_at_once() -> None:
    """Review lines logged on the event loop wait for the end of its turn (one write for all of
    them); a warning is written at once, after the lines that wait; off the loop, at once."""
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.batched")
    logger.handlers[:], logger.propagate, logger.level = [handler], False, logging.INFO

    def written() -> list[str]:
        return [json.loads(line)["msg"] for line in stream.getvalue().splitlines()]

    async def one_turn() -> list[list[str]]:
        seen = []
        logger.info("first")
        logger.info("second")
        seen.append(written())
        await asyncio.sleep(0)  # the turn ends: the waiting lines are written
        seen.append(written())
        logger.info("third")
        logger.warning("problem")
        seen.append(written())
        return seen

    assert asyncio.run(one_turn()) == [
        [],
        ["first", "second"],
        ["first", "second", "third", "problem"],
    ]
    logger.info("off the loop")
    assert written()[-1] == "off the loop"
