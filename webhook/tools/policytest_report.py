"""The report of `placement-webhook test`: a PASS/FAIL/ERROR table, then each failure with its
diff (and, once per file, why the cases of a file that cannot be loaded did not run), then the
count of cases."""

from __future__ import annotations

from collections.abc import Sequence

from webhook.tools.policytest import CaseResult

_COLORS = {"PASS": "\033[32m", "FAIL": "\033[31m", "ERROR": "\033[31m", "+": "\033[32m",
           "-": "\033[31m", "@": "\033[36m"}  # fmt: skip
_RESET = "\033[0m"


def render_report(results: Sequence[CaseResult], color: bool = False) -> str:
    width = max([len(r.file) for r in results] + [4])
    lines = [f"{'RESULT':<6}  {'FILE':<{width}}  CASE"]
    for r in results:
        verdict = _verdict(r)
        lines.append(f"{_paint(f'{verdict:<6}', verdict, color)}  {r.file:<{width}}  {r.case}")
    shown: set[tuple[str, str]] = set()  # why a file's cases did not run: said once per file
    for r in results:
        if r.passed or (not r.ran and (r.file, r.failures[0]) in shown):
            continue
        heading = f"FAIL {r.file}: {r.case}" if r.ran else f"NOT RUN {r.file}"
        shown.add((r.file, r.failures[0]))
        lines += ["", _paint(heading, "FAIL", color)]
        for failure in r.failures:
            for line in failure.splitlines():
                # Diff lines (they start with their marker) sit under their heading.
                indent = "    " if line[:1] in " -+@" else "  "
                lines.append(indent + _paint(line, line[:1], color))
    lines += ["", _summary(results)]
    return "\n".join(lines) + "\n"


def _verdict(result: CaseResult) -> str:
    return "PASS" if result.passed else "FAIL" if result.ran else "ERROR"


def _summary(results: Sequence[CaseResult]) -> str:
    passed = sum(r.passed for r in results)
    not_run = sum(not r.ran for r in results)
    summary = f"{len(results)} cases: {passed} passed, {len(results) - passed - not_run} failed"
    return summary + (f", {not_run} not run" if not_run else "")


def _paint(text: str, key: str, color: bool) -> str:
    code = _COLORS.get(key) if color else None
    return f"{code}{text}{_RESET}" if code else text
