"""Tools from Debian packages that some tests need: podman, buildah, runc, mmdebstrap and
nsenter (the image's smoke test and the release), promtool (the alert rules), wrk (the
benchmark's HTTPS run), curl and jq (the README's request). `sudo .ci/install-system-tools`
installs them.

On a machine without them those tests skip, each with one line that says which tool is missing,
and the run closes with their count (`conftest.py`): `make test` passes on a fresh machine.
CI makes them mandatory (`.ci/run` sets PLACEMENT_WEBHOOK_SYSTEM_TOOLS=required): a missing
tool then fails its tests, so CI always proves the image and the alerts.
"""

from __future__ import annotations

import os
import shutil

import pytest

SWITCH = "PLACEMENT_WEBHOOK_SYSTEM_TOOLS"
REQUIRED = "required"
ABSENT = "system tools absent"  # how the closing count finds these skips
INSTALL = "run .ci/install-system-tools"
MISSING: set[str] = set()  # the tools found missing in this run, for the closing line


def mandatory() -> bool:
    return os.environ.get(SWITCH) == REQUIRED


def require(*tools: str) -> dict[str, str]:
    """Paths of `tools`. A missing one skips the test, or fails it where they are mandatory."""
    found = {tool: shutil.which(tool) for tool in tools}
    missing = sorted(tool for tool, path in found.items() if path is None)
    if missing:
        _absent(missing)
    return {tool: path for tool, path in found.items() if path is not None}


def optional(tool: str) -> str | None:
    """The path of a tool a test can do without (it then checks the other branch), unless
    system tools are mandatory."""
    path = shutil.which(tool)
    if path is None and mandatory():
        _absent([tool])
    return path


def _absent(missing: list[str]) -> None:
    MISSING.update(missing)
    message = f"{ABSENT}: {', '.join(missing)} not found; {INSTALL}"
    if mandatory():
        pytest.fail(f"{message} ({SWITCH}={REQUIRED} makes them mandatory)", pytrace=False)
    pytest.skip(message)
