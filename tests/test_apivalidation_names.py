"""The string and number formats of the Kubernetes API (webhook.kube.validation.names).

The label key and value cases marked "upstream" are the success and error cases of
k8s.io/apimachinery `pkg/api/validate/content/kube_test.go` (TestIsLabelKey, TestIsLabelValue);
the others are where a Python port goes wrong: `$` before a final newline, characters instead
of bytes, Unicode digits.
"""

from __future__ import annotations

import pytest

from webhook.kube.validation import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_value,
    is_qualified_name,
    parse_int,
)

VALID_KEYS = {
    "upstream: simple": "simple",
    "upstream: now with dashes": "now-with-dashes",
    "upstream: starts with a number": "1-starts-with-num",
    "upstream: only digits": "1234",
    "upstream: simple prefix": "simple/simple",
    "upstream: dotted prefix": "now.with.dots/simple",
    "upstream: numeric prefix and name": "1.2.3.4/5678",
    "upstream: uppercase name": "Uppercase_Is_OK_123",
    "upstream: uppercase name with a prefix": "example.com/Uppercase_Is_OK_123",
    "upstream: a name of 63 characters": "a" * 63,
    "upstream: a prefix of 253 and a name of 63": "a" * 253 + "/" + "b" * 63,
}
INVALID_KEYS = {
    "upstream: special characters": "nospecialchars%^=@",
    "upstream: ending with a dash": "cantendwithadash-",
    "upstream: starting with a dash": "-cantstartwithadash-",
    "upstream: two slashes": "only/one/slash",
    "upstream: an uppercase prefix": "Example.com/abc",
    "upstream: an underscore in the prefix": "example_com/abc",
    "upstream: an empty name": "example.com/",
    "upstream: an empty prefix": "/simple",
    "upstream: a name of 64 characters": "a" * 64,
    "upstream: a prefix of 254 characters": "a" * 254 + "/abc",
    "a name ending in a newline": "team\n",
    "a prefix ending in a newline": "example.com\n/team",
    "an empty key": "",
    "a name of 63 characters of which one is two bytes": "a" * 62 + "é",
}
VALID_VALUES = {
    "upstream: simple": "simple",
    "upstream: dashes": "now-with-dashes",
    "upstream: starts with a number": "1-starts-with-num",
    "upstream: ends with a number": "end-with-num-1",
    "upstream: only digits": "1234",
    "upstream: 63 characters": "a" * 63,
    "upstream: empty": "",
}
INVALID_VALUES = {
    "upstream: special characters": "nospecialchars%^=@",
    "upstream: non-ASCII letters": "Tama-nui-te-rā.is.Māori.sun",
    "upstream: backslashes": "\\backslashes\\are\\bad",
    "upstream: starting with a dash": "-starts-with-dash",
    "upstream: ending with a dash": "ends-with-dash-",
    "upstream: starting with a dot": ".starts.with.dot",
    "upstream: ending with a dot": "ends.with.dot.",
    "upstream: 64 characters": "a" * 64,
    "a space inside": "on demand",
    "a trailing newline": "spot\n",
    "only a newline": "\n",
    "a negative number": "-1",
    "a superscript digit": "²",
}


@pytest.mark.parametrize("key", VALID_KEYS.values(), ids=list(VALID_KEYS))
def test_a_valid_qualified_name_is_accepted(key: str) -> None:
    assert is_qualified_name(key) == []


@pytest.mark.parametrize("key", INVALID_KEYS.values(), ids=list(INVALID_KEYS))
def test_an_invalid_qualified_name_is_refused(key: str) -> None:
    assert is_qualified_name(key) != []


@pytest.mark.parametrize("value", VALID_VALUES.values(), ids=list(VALID_VALUES))
def test_a_valid_label_value_is_accepted(value: str) -> None:
    assert is_label_value(value) == []


@pytest.mark.parametrize("value", INVALID_VALUES.values(), ids=list(INVALID_VALUES))
def test_an_invalid_label_value_is_refused(value: str) -> None:
    assert is_label_value(value) != []


def test_length_limits_count_bytes_as_go_does() -> None:
    assert is_label_value("a" * 63) == []
    assert is_label_value("a" * 62 + "é") == [
        "must be no more than 63 bytes",
        is_label_value("é")[0],
    ]


DNS = {
    "a label": ("my-name", True, True),
    "a subdomain": ("example.com", False, True),
    "a trailing newline": ("example.com\n", False, False),
    "uppercase": ("Example.com", False, False),
    "an underscore": ("my_name", False, False),
    "64 characters": ("a" * 64, False, True),
    "254 characters": ("a." * 127, False, False),
}


@pytest.mark.parametrize(("value", "label", "subdomain"), DNS.values(), ids=list(DNS))
def test_dns_1123_labels_and_subdomains(value: str, label: bool, subdomain: bool) -> None:
    assert (is_dns1123_label(value) == []) is label
    assert (is_dns1123_subdomain(value) == []) is subdomain


PARSE_INT = {
    "zero": ("0", 0),
    "a negative number": ("-1", -1),
    "a plus sign": ("+5", 5),
    "leading zeros": ("0" * 30 + "7", 7),
    "the largest int64": ("9223372036854775807", 2**63 - 1),
    "the smallest int64": ("-9223372036854775808", -(2**63)),
    "one past the largest int64": ("9223372036854775808", None),
    "two minus signs": ("--5", None),
    "a superscript two": ("²", None),
    "an Arabic-Indic digit": ("٣", None),
    "an underscore separator": ("1_000", None),
    "a leading space": (" 5", None),
    "a trailing newline": ("5\n", None),
    "a hexadecimal prefix": ("0x10", None),
    "an empty string": ("", None),
    "only a sign": ("-", None),
    "thousands of digits": ("9" * 5000, None),
}


@pytest.mark.parametrize(("text", "expected"), PARSE_INT.values(), ids=list(PARSE_INT))
def test_integers_parse_as_go_strconv_parse_int_does(text: str, expected: int | None) -> None:
    assert parse_int(text) == expected


def test_an_int32_stops_at_2_to_the_31() -> None:
    assert parse_int("2147483647", 32) == 2**31 - 1
    assert parse_int("2147483648", 32) is None
