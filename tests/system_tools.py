"""Tools from Debian packages that some tests need: CI installs them (.ci/install-system-tools)
and those tests fail without them. A developer without them skips those tests explicitly with
PLACEMENT_WEBHOOK_SKIP_SYSTEM_TOOLS=1."""

from __future__ import annotations

import os
import shutil

import pytest

OPT_OUT = "PLACEMENT_WEBHOOK_SKIP_SYSTEM_TOOLS"


def require(*tools: str) -> dict[str, str]:
    """Paths of `tools`; the test fails if one is missing, unless the opt-out is set."""
    if os.environ.get(OPT_OUT) == "1":
        pytest.skip(f"{OPT_OUT}=1")
    found = {tool: shutil.which(tool) for tool in tools}
    missing = sorted(tool for tool, path in found.items() if path is None)
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: run `sudo .ci/install-system-tools` (Debian), "
            f"or set {OPT_OUT}=1 to skip the tests that need them on this machine"
        )
    return {tool: path for tool, path in found.items() if path is not None}
