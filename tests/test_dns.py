"""dnsConfig options merged by name: an option the pod sets is never overridden, whatever its
value; options the pod lacks are appended; the rest of dnsConfig and dnsPolicy stay."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pods import compiled, dns_options_of, mutated, pod, policy
from webhook.engine import Result

NDOTS_1 = {"name": "ndots", "value": "1"}
NDOTS_2 = {"name": "ndots", "value": "2"}
EDNS0 = {"name": "edns0"}
TIMEOUT = {"name": "timeout", "value": "2"}


def with_options(*options: dict[str, Any]) -> Any:
    return compiled(policy("dns", {"dnsConfig": {"options": list(options)}}))


def notes(result: Result) -> list[str]:
    return [n for o in result.outcomes for n in o.notes]


ROWS = {
    "a pod without dnsConfig gets the options": ([NDOTS_1], pod(), [NDOTS_1]),
    "a dnsConfig with nameservers only gains an options list": (
        [NDOTS_1],
        pod(dnsConfig={"nameservers": ["10.0.0.10"]}),
        [NDOTS_1],
    ),
    "a null dnsConfig is filled in": ([NDOTS_1], pod(dnsConfig=None), [NDOTS_1]),
    "other options of the pod stay first": ([NDOTS_1], pod(dns_options=[EDNS0]), [EDNS0, NDOTS_1]),
    "an option without a value is added without one": ([EDNS0, TIMEOUT], pod(), [EDNS0, TIMEOUT]),
    "the same option with the same value is not added again": (
        [NDOTS_1],
        pod(dns_options=[NDOTS_1]),
        [NDOTS_1],
    ),
}


@pytest.mark.parametrize(("wanted", "before", "expected"), list(ROWS.values()), ids=list(ROWS))
def test_dns_options(wanted: list[Any], before: Any, expected: Any) -> None:
    _, after = mutated(with_options(*wanted), before)
    assert dns_options_of(after) == expected


KEPT = {
    "the pod's ndots 2 is never replaced by ndots 1": ([NDOTS_1], [NDOTS_2]),
    "the pod's ndots without a value is kept": ([NDOTS_1], [{"name": "ndots"}]),
    "a valueless policy option does not replace the pod's valued one": (
        [{"name": "edns0"}],
        [{"name": "edns0", "value": "x"}],
    ),
}


@pytest.mark.parametrize(("wanted", "pods_own"), list(KEPT.values()), ids=list(KEPT))
def test_an_option_the_pod_set_is_kept_with_a_note(wanted: list[Any], pods_own: Any) -> None:
    result, after = mutated(with_options(*wanted), pod(dns_options=pods_own))
    assert dns_options_of(after) == pods_own
    name = wanted[0]["name"]
    assert notes(result) == [f"dns option {name}: the pod's own value kept"]


def test_dns_policy_and_searches_stay() -> None:
    before = pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": ["a.b"]})
    _, after = mutated(with_options(NDOTS_1), before)
    assert after["spec"]["dnsPolicy"] == "None"
    assert after["spec"]["dnsConfig"] == {
        "nameservers": ["1.1.1.1"],
        "searches": ["a.b"],
        "options": [NDOTS_1],
    }


def test_a_later_policy_setting_the_option_differently_loses_with_a_warning() -> None:
    policies = compiled(
        policy("ndots-one", {"dnsConfig": {"options": [NDOTS_1]}}, order=1),
        policy("ndots-two", {"dnsConfig": {"options": [NDOTS_2, EDNS0]}}, order=2),
    )
    result, after = mutated(policies, pod())
    assert dns_options_of(after) == [NDOTS_1, EDNS0]
    assert result.warnings == ["policy ndots-two: dns option ndots kept from policy ndots-one"]
