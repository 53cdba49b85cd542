"""`dnsConfig.options` (ndots and others), merged by name; an option the pod sets always wins.

kubelet merges `dnsConfig.options` over the policy's defaults by name (`pkg/kubelet/network/
dns/dns.go`), so adding `ndots: "1"` replaces the ClusterFirst default `ndots:5` for this pod.
"""

from __future__ import annotations

from typing import Any

from webhook.kube.pod import Pod, dns_options
from webhook.match.facts import PodFacts
from webhook.mutations.kind import (
    Conflict,
    Context,
    Items,
    MutationKind,
    Patching,
    missing_by_key,
)
from webhook.policy.model import Mutations

WHAT = "dns option"


def _compile(add: Mutations, context: Context) -> tuple[dict[str, Any], ...] | None:
    return tuple(o.as_k8s() for o in add.dns_config.options) if add.dns_config else None


def _missing(
    pod: Pod, rule: tuple[dict[str, Any], ...], facts: PodFacts
) -> tuple[Items, list[Conflict]]:
    present = {str(o.get("name")): o.get("value") for o in dns_options(pod)}
    wanted = [(o["name"], o.get("value")) for o in rule]
    added, conflicts = missing_by_key(WHAT, present, wanted)
    options = {o["name"]: o for o in reversed(rule)}  # the first option of each name
    return [options[name] for name, _ in added], conflicts


KIND = MutationKind(
    name="dnsConfig.options",
    reads=("dns_config",),
    path=("spec", "dnsConfig", "options"),
    patching=Patching.APPEND,
    placement=False,
    chooses_nodes=False,
    stale=frozenset(),
    compile=_compile,
    missing=_missing,
    noun=WHAT,
    keys=lambda items: [str(o["name"]) for o in items if isinstance(o, dict)],
)
