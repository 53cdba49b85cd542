"""Tests that need system tools skip without them, with a closing count, and fail without them
where they are mandatory (CI): run as a nested pytest on a PATH that lacks promtool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.system_tools import REQUIRED, SWITCH

REPO = Path(__file__).resolve().parent.parent
ALERT_TEST = "tests/test_alerts.py::test_rules_pass_promtool_check"


def nested_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    bare = tmp_path / "bin"  # a PATH with no tool at all: python is called by its full path
    bare.mkdir(exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if k != SWITCH}
    environment.update(PATH=str(bare), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", ALERT_TEST],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_missing_tool_skips_its_test_with_a_reason_and_a_closing_count(
    tmp_path: Path,
) -> None:
    done = nested_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "system tools absent: promtool not found; run .ci/install-system-tools" in done.stdout
    assert "1 skipped: system tools absent (promtool): run .ci/install-system-tools" in done.stdout


def test_where_system_tools_are_mandatory_a_missing_tool_fails_its_test(tmp_path: Path) -> None:
    done = nested_pytest(tmp_path, **{SWITCH: REQUIRED})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout
    assert f"promtool not found; run .ci/install-system-tools ({SWITCH}={REQUIRED}" in done.stdout
    assert "skipped" not in done.stdout


def test_ci_makes_system_tools_mandatory_before_the_suite_runs() -> None:
    script = (REPO / ".ci" / "run").read_text().splitlines()
    switch = script.index(f"export {SWITCH}={REQUIRED}")
    suite = script.index("make test")
    install = script.index("step .ci/install-system-tools")
    assert switch < suite and install < suite
