"""Tolerations: the upstream ExtendedResourceToleration rule, and tolerations a policy lists.

The extended-resource rule is `plugin/pkg/admission/extendedresourcetoleration/admission.go`
with `helper.IsExtendedResourceName` and `helper.AddOrUpdateTolerationInPod`: one
`{key: R, operator: Exists, effect: NoSchedule}` per distinct extended resource R requested by a
container or init container, in ascending byte order, appended unless an equal toleration
(key, operator, value, effect) is already there. The quantity is ignored, as upstream.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from webhook.pod import Pod, tolerations
from webhook.policy.model import ExtendedResourceTolerations

# IsQualifiedName applied to "requests." + name: a DNS-1123 subdomain prefix (at most 253
# characters) and a name part of 1-63 characters.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


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
        and _DNS_SUBDOMAIN.match(prefix) is not None
        and 1 <= len(part) <= 63
        and _NAME_PART.match(part) is not None
    )


def extended_resources(names: Iterable[str]) -> list[str]:
    """The extended resource names among `names`, in ascending byte order, as upstream."""
    return sorted({n for n in names if is_extended_resource_name(n)}, key=lambda n: n.encode())


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """`MatchToleration`: key, operator, value and effect equal; an empty operator is Equal."""
    return (
        (a.get("key") or "") == (b.get("key") or "")
        and (a.get("operator") or "Equal") == (b.get("operator") or "Equal")
        and (a.get("value") or "") == (b.get("value") or "")
        and (a.get("effect") or "") == (b.get("effect") or "")
    )


def missing_tolerations(pod: Pod, wanted: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tolerations of `wanted` that neither the pod nor an earlier entry of `wanted` has."""
    present: list[Mapping[str, Any]] = list(tolerations(pod))
    out: list[dict[str, Any]] = []
    for tol in wanted:
        if not any(_same(tol, have) for have in present):
            present.append(tol)
            out.append(dict(tol))
    return out


def tolerations_for_extended_resources(
    requested: Iterable[str], rule: ExtendedResourceTolerations
) -> list[dict[str, Any]]:
    """The rule's tolerations for the requested names; `missing_tolerations` then dedupes."""
    names = extended_resources(requested)
    if rule.resources:
        names = [n for n in names if n in rule.resources]
    effects = ("NoSchedule", *rule.extra_effects)
    return [{"key": n, "operator": "Exists", "effect": e} for n in names for e in effects]
