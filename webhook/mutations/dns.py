"""dnsConfig options (ndots and others), merged by name; an option the pod sets always wins.

kubelet merges `dnsConfig.options` over the policy's defaults by name (`pkg/kubelet/network/
dns/dns.go`), so adding `ndots: "1"` replaces the ClusterFirst default `ndots:5` for this pod.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webhook.mutations.keyed import Conflict
from webhook.pod import Pod, dns_options
from webhook.policy.model import DnsOption


def missing_dns_options(
    pod: Pod, wanted: Sequence[DnsOption]
) -> tuple[list[dict[str, Any]], list[Conflict]]:
    present = {str(o.get("name")): o.get("value") for o in dns_options(pod)}
    added: list[dict[str, Any]] = []
    conflicts: list[Conflict] = []
    for option in wanted:
        if option.name in present:
            if present[option.name] != option.value:
                conflicts.append(
                    Conflict("dns option", option.name, option.value, present[option.name])
                )
            continue
        present[option.name] = option.value
        added.append(option.as_k8s())
    return added, conflicts
