"""Shared fixtures and the hypothesis profiles.

HYPOTHESIS_PROFILE=ci (the default) keeps the property tests to a few seconds;
HYPOTHESIS_PROFILE=soak runs 10,000 examples per property.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.pods import shipped
from tests.system_tools import ABSENT, INSTALL, MISSING
from webhook.engine import CompiledPolicySet

# Each example shells out to kubectl (~0.1 s): no deadline, and slow data is expected.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile(
    "soak", max_examples=10_000, deadline=None, suppress_health_check=_SLOW_OK
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def shipped_policies() -> CompiledPolicySet:
    """The default policy set `serve` runs, compiled once."""
    return shipped()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """One closing line for the tests skipped because a system tool is missing (see
    tests/system_tools.py): how many, which tools, and how to install them. After pytest's own
    summary, just before its count."""
    yield
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and ABSENT in str(report.longrepr[2])
    ]
    if skipped:
        tools = ", ".join(sorted(MISSING))
        terminalreporter.write_line(f"{len(skipped)} skipped: {ABSENT} ({tools}): {INSTALL}")
