"""dnsConfig, as kube-apiserver validates it on a Pod create.

Ported from kubernetes `pkg/apis/core/validation/validation.go` validatePodDNSConfig (limits
MaxDNSNameservers, MaxDNSSearchPaths, MaxDNSSearchListChars), with search paths checked the
relaxed way (RelaxedDNSSearchValidation, on by default since v1.33), and apimachinery
`pkg/util/validation/ip.go` IsValidIP for nameservers. An option needs a name and nothing else:
its value is free text, and there is no limit on the number of options.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from webhook.kube.validation.field import FieldError, Path, invalid, required
from webhook.kube.validation.meta import mapping, sequence, text
from webhook.kube.validation.names import byte_length

MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_LIST_CHARS = 2048

# IsDNS1123SubdomainWithUnderscore
_LABEL_WITH_UNDERSCORE = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_WITH_UNDERSCORE = re.compile(rf"{_LABEL_WITH_UNDERSCORE}(\.{_LABEL_WITH_UNDERSCORE})*")
# netutils.ParseIPSloppy also takes IPv4 parts with leading zeros (read as decimal).
_SLOPPY_IPV4 = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")


def validate_pod_dns_config(
    config: Mapping[str, Any] | None, dns_policy: str, path: Path
) -> list[FieldError]:
    if dns_policy == "None":
        if config is None:
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not sequence(config.get("nameservers")):
            return [
                required(
                    (*path, "nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )
            ]
    if config is None:
        return []
    errors = _nameserver_errors(sequence(config.get("nameservers")), (*path, "nameservers"))
    errors += _search_errors(sequence(config.get("searches")), (*path, "searches"))
    for index, option in enumerate(sequence(config.get("options"))):
        if not text(mapping(option), "name"):
            errors.append(required((*path, "options", index), "must not be empty"))
    return errors


def _nameserver_errors(nameservers: list[Any], path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(nameservers) > MAX_DNS_NAMESERVERS:
        errors.append(
            invalid(path, nameservers, f"must not have more than {MAX_DNS_NAMESERVERS} nameservers")
        )
    for index, address in enumerate(nameservers):
        if not (isinstance(address, str) and is_ip_sloppy(address)):
            errors.append(
                invalid(
                    (*path, index),
                    address,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )
            )
    return errors


def _search_errors(searches: list[Any], path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    names = [s if isinstance(s, str) else "" for s in searches]
    if len(names) > MAX_DNS_SEARCH_PATHS:
        errors.append(
            invalid(path, searches, f"must not have more than {MAX_DNS_SEARCH_PATHS} search paths")
        )
    if byte_length(" ".join(names)) > MAX_DNS_SEARCH_LIST_CHARS:
        errors.append(
            invalid(
                path,
                searches,
                f"must not have more than {MAX_DNS_SEARCH_LIST_CHARS} characters (including "
                "spaces) in the search list",
            )
        )
    for index, name in enumerate(names):
        if name == ".":
            continue
        trimmed = name.removesuffix(".")
        if byte_length(trimmed) > 253 or not _SUBDOMAIN_WITH_UNDERSCORE.fullmatch(trimmed):
            errors.append(
                invalid(
                    (*path, index),
                    trimmed,
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                    "characters, '_', '-' or '.', and must start and end with an alphanumeric "
                    "character",
                )
            )
    return errors


def is_ip_sloppy(value: str) -> bool:
    """netutils.ParseIPSloppy: Go's net.ParseIP, plus IPv4 parts with leading zeros. Go has no
    IPv6 zone (`%eth0`) in an IP, which Python's ipaddress takes."""
    if "%" in value:
        return False
    if _SLOPPY_IPV4.fullmatch(value):
        return all(int(part) <= 255 for part in value.split("."))
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
