"""The values of an Argo Workflows `retryStrategy`, as the Argo controller reads them.

Argo parses a backoff duration with `ParseStringToDuration` (argo-workflows
`pkg/apis/workflow/v1alpha1/utils.go`): a whole number of seconds (`strconv.Atoi`), else a Go
duration (`time.ParseDuration`). A value it cannot parse fails the step when the retry is due,
not when the workflow is submitted: so a policy's durations are checked here, at load. The
retry policies are those `workflow/validate/validate.go` accepts (an empty one means
OnFailure); limits and factors are int32 (`intstr.Int32`).
"""

from __future__ import annotations

import re

INT32_MAX = 2**31 - 1
RETRY_POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError")
_MAX_NANOSECONDS = 2**63 - 1  # time.Duration is an int64 of nanoseconds
# time.unitMap: the micro sign (U+00B5) and the Greek mu (U+03BC) both spell microseconds.
_UNITS = {
    "ns": 1,
    "us": 10**3,
    "\u00b5s": 10**3,
    "\u03bcs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_ATOI = re.compile("[+-]?[0-9]+")  # strconv.Atoi: ASCII digits only, no '_' or spaces
_ELEMENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def duration_seconds(text: str) -> float | None:
    """`ParseStringToDuration`: the duration in seconds, or None where Argo gets an error."""
    if _ATOI.fullmatch(text) and -(2**63) <= int(text) < 2**63:  # Atoi's int is 64 bits
        return float(int(text))
    nanoseconds = go_duration_nanoseconds(text)
    return None if nanoseconds is None else nanoseconds / 1e9


def go_duration_nanoseconds(text: str) -> int | None:
    """Go's `time.ParseDuration`: `[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+`, or "0"; None on error
    (no digits, a missing or unknown unit, more than an int64 of nanoseconds)."""
    rest, sign = text, 1
    if rest[:1] in ("-", "+"):
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    if rest == "0":
        return 0
    if not rest:
        return None
    total = 0
    while rest:
        element = _ELEMENT.match(rest)
        assert element is not None  # every part of the pattern may be empty
        whole, fraction, unit = element.groups()
        if (not whole and not fraction) or unit not in _UNITS:
            return None
        scale = _UNITS[unit]
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        if total > _MAX_NANOSECONDS:
            return None
        rest = rest[element.end() :]
    return sign * total


def duration_errors(text: str) -> list[str]:
    """Why Argo cannot wait for `text` before a retry: it does not parse, or it is not a
    positive amount of time."""
    seconds = duration_seconds(text)
    if seconds is None:
        return [
            f"{text!r} is no duration Argo reads: a whole number of seconds (300) or a Go "
            "duration (5m, 1h30m)"
        ]
    if seconds <= 0:
        return [f"{text!r} must be longer than zero"]
    return []
