"""The string and number formats of the Kubernetes API, exactly as kube-apiserver checks them.

Ported from k8s.io/apimachinery `pkg/api/validate/content` (kube.go: IsLabelKey, which
IsQualifiedName aliases, and IsLabelValue; dns.go: IsDNS1123Label, IsDNS1123Subdomain) and Go's
`strconv.ParseInt`. Two differences from a naive Python port matter:

- Go compiles `"^" + fmt + "$"` and its `$` matches only at the very end of the text; Python's
  `$` also matches before a final newline. Every pattern here is used with `re.fullmatch`.
- Go's `len()` of a string counts UTF-8 bytes, not characters; so do the length limits here.

Each `is_*` function returns the list of upstream's messages, empty when the value is valid.
"""

from __future__ import annotations

import re

# content/kube.go
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
LABEL_KEY_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
_LABEL_KEY = re.compile(_LABEL_KEY_FMT)
_LABEL_VALUE = re.compile(f"({_LABEL_KEY_FMT})?")
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)

# content/dns.go
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_DNS1123_LABEL = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT)
DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

# strconv.ParseInt(s, 10, bits): an optional sign, then ASCII digits only. With an explicit
# base there is no prefix and no '_' separator, and Go's digits are '0'-'9' alone (Python's
# int() also takes '²'-like digits of other scripts, '_' and surrounding spaces).
_DECIMAL = re.compile("[+-]?[0-9]+")


def byte_length(value: str) -> int:
    """len() of the string in Go: its UTF-8 bytes (a lone surrogate counts as its 3 bytes)."""
    return len(value.encode("utf-8", "surrogatepass"))


def max_len_error(length: int) -> str:
    return f"must be no more than {length} bytes"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    listed = " or ".join(f"'{e}'" for e in examples)
    return f"{message} (e.g. {listed}, regex used for validation is '{fmt}')"


def is_qualified_name(value: str) -> list[str]:
    """IsQualifiedName (= IsLabelKey): an optional DNS-subdomain prefix and '/', then a name
    of 1-63 alphanumerics, '-', '_' or '.' that starts and ends alphanumeric."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors += [f"prefix part {m}" for m in is_dns1123_subdomain(prefix)]
    else:
        return [
            "a valid label key "
            + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part must be non-empty")
    elif byte_length(name) > LABEL_KEY_MAX_LENGTH:
        errors.append(f"name part {max_len_error(LABEL_KEY_MAX_LENGTH)}")
    if not _LABEL_KEY.fullmatch(name):
        errors.append(
            "name part "
            + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def is_label_value(value: str) -> list[str]:
    """IsValidLabelValue: empty, or up to 63 alphanumerics, '-', '_' or '.' that start and end
    alphanumeric."""
    errors = []
    if byte_length(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE.fullmatch(value):
        errors.append(
            regex_error(_LABEL_VALUE_MSG, f"({_LABEL_KEY_FMT})?", "MyValue", "my_value", "12345")
        )
    return errors


def is_dns1123_label(value: str) -> list[str]:
    errors = []
    if byte_length(value) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL.fullmatch(value):
        if _DNS1123_SUBDOMAIN.fullmatch(value):
            errors.append("must not contain dots")
        else:
            errors.append(
                regex_error(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                    "characters or '-', and must start and end with an alphanumeric character",
                    _DNS1123_LABEL_FMT,
                    "my-name",
                    "123-abc",
                )
            )
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    errors = []
    if byte_length(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errors.append(
            regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errors


def parse_int(value: str, bits: int = 64) -> int | None:
    """strconv.ParseInt(value, 10, bits): the integer, or None where Go returns an error."""
    if not _DECIMAL.fullmatch(value):
        return None
    # Go takes any number of leading zeros; past 19 significant digits it is out of range
    # (and Python's int() refuses strings of over 4,300 digits).
    sign, digits = ("-", value[1:]) if value[0] == "-" else ("", value.lstrip("+"))
    digits = digits.lstrip("0") or "0"
    if len(digits) > 19:
        return None
    number = int(sign + digits)
    low, high = INT32 if bits == 32 else INT64
    return number if low <= number <= high else None


def is_int(value: object, bits: int = 64) -> bool:
    """A JSON number the apiserver decodes into an int32/int64 field (a bool is not one)."""
    low, high = INT32 if bits == 32 else INT64
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
