"""Extended resource names: `helper.IsExtendedResourceName` (pkg/apis/core/helper/helpers.go).

A container requesting an extended resource (nvidia.com/gpu) can only run on nodes that have
it; such nodes are usually tainted with the resource's name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# IsQualifiedName applied to "requests." + name: a DNS-1123 subdomain prefix (at most 253
# characters) and a name part of 1-63 characters.
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME_PART = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


@functools.lru_cache(maxsize=1024)  # a cluster uses a handful of resource names, on every pod
def is_extended_resource_name(name: str) -> bool:
    """`helper.IsExtendedResourceName`, exactly (see docs/policies.md for the table)."""
    # IsNativeResource: no "/" at all, or "kubernetes.io/" anywhere (a substring test upstream).
    if "/" not in name or "kubernetes.io/" in name:
        return False
    if name.startswith("requests."):
        return False
    qualified = "requests." + name
    prefix, _, part = qualified.partition("/")
    return (
        "/" not in part
        and len(prefix) <= 253
        and _DNS_SUBDOMAIN.fullmatch(prefix) is not None
        and 1 <= len(part) <= 63
        and _NAME_PART.fullmatch(part) is not None
    )


def extended_resources(names: Iterable[str]) -> list[str]:
    """The extended resource names among `names`, in ascending byte order, as upstream."""
    return sorted({n for n in names if is_extended_resource_name(n)}, key=lambda n: n.encode())
