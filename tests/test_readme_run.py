"""The README's `make run` and curl, run as written: the real server started by make, over real
TLS with the development CA in certs/, answering the shipped AdmissionReview.

Only the port is changed, to a free one, so a developer's own `make run` may go on beside the
test; that the README's port is the one `serve` listens on by default is checked separately.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.pods import is_subdocument
from tests.servers import RunningServer, free_port, wait_ready
from tests.system_tools import require
from webhook.tools.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
VENV = Path(sys.executable).parent.parent
README_PORT = "10250"
REVIEW = REPO / "docs" / "examples" / "review.json"


def readme_block_with(text: str) -> tuple[str, str]:
    """The README's shell block containing `text`, and the output block right after it."""
    found = re.search(
        r"```sh\n((?:(?!```).)*?" + re.escape(text) + r".*?)```\n\n```\n(.*?)```", README, re.DOTALL
    )
    assert found, f"README.md has no sh block with {text!r} followed by its output"
    return found.group(1), found.group(2)


@contextlib.contextmanager
def make_run(tmp_path: Path, *variables: str) -> Iterator[RunningServer]:
    """`make run VARIABLES...` in the repository, on free ports; stopped with SIGTERM."""
    port, health = free_port(), free_port()
    log_file = tmp_path / "make-run.log"
    command = [
        "make",
        "--no-print-directory",
        # The test runs in the venv make would build: never reinstall from inside a test.
        "-o",
        f"{VENV}/bin/.installed",
        "run",
        f"VENV={VENV}",
        *variables,
        f"ARGS=--port {port} --health-port {health}",
    ]
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RunningServer(
        process,
        f"https://127.0.0.1:{port}",
        f"http://127.0.0.1:{health}",
        REPO / "certs" / "ca.crt",
        log_file,
    )
    try:
        wait_ready(server)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def run_readme_curl(server: RunningServer) -> str:
    require("curl", "jq", "base64")  # what the README's command line uses
    command, _ = readme_block_with("curl")
    port = server.url.rpartition(":")[2]
    command = command.replace(f"https://127.0.0.1:{README_PORT}/", f"https://127.0.0.1:{port}/")
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + server.log()
    return done.stdout


def test_the_readme_curl_gets_the_patch_the_readme_shows(tmp_path: Path):
    _, expected = readme_block_with("curl")
    with make_run(tmp_path) as server:
        assert run_readme_curl(server) == expected
        # Loopback only unless HOST says otherwise.
        assert f"on https://127.0.0.1:{server.url.rpartition(':')[2]}/mutate" in server.log()


def test_make_run_policies_serves_that_set(tmp_path: Path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "team.yaml").write_text(
        "apiVersion: pod-placement-webhook/v1\n"
        "kind: PlacementPolicy\n"
        "metadata: {name: team-label}\n"
        "spec:\n"
        "  add: {labels: {example.com/team: data}}\n"
    )
    with make_run(tmp_path, f"POLICIES={mine}") as server:
        assert run_readme_curl(server) == (
            "add /metadata/labels/example.com~1team\n"
            "add /metadata/annotations/pod-placement-webhook~1policies\n"
        )
        assert "serving 1 policies" in server.log()


def test_the_readme_names_the_port_and_address_make_run_serves():
    command, _ = readme_block_with("curl")
    assert f"https://127.0.0.1:{README_PORT}/mutate" in command
    serve = build_parser().parse_args(["serve"])
    assert str(serve.port) == README_PORT
    assert f"serves https://127.0.0.1:{README_PORT}/mutate" in README


@pytest.mark.parametrize(
    ("variables", "host"),
    [((), "127.0.0.1"), (("HOST=0.0.0.0",), "0.0.0.0")],
    ids=["loopback by default", "HOST overrides"],
)
def test_make_run_host(variables: tuple[str, ...], host: str):
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *variables],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"placement-webhook serve --host {host} " in done.stdout


def test_the_review_carries_the_readme_pod_as_the_apiserver_sends_it():
    """The README's "before" pod, with what kube-apiserver adds before a webhook sees it."""
    review = json.loads(REVIEW.read_text())
    request = review["request"]
    assert (review["apiVersion"], review["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    assert (request["operation"], request["kind"]["kind"]) == ("CREATE", "Pod")
    before = re.search(
        r"as the Argo controller creates it:\n\n```yaml\n(.*?)```", README, re.DOTALL
    )
    assert before
    assert is_subdocument(yaml.safe_load(before.group(1)), request["object"]) is None
    assert request["object"]["spec"]["dnsPolicy"] == "ClusterFirst"  # defaulted
