"""What one policy adds to one pod, before it becomes JSON Patch operations."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Additions:
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    # ANDed into every nodeSelectorTerm (or one new term when the pod has none).
    node_required: list[dict[str, Any]] = field(default_factory=list)
    node_preferred: list[dict[str, Any]] = field(default_factory=list)
    pod_affinity_preferred: list[dict[str, Any]] = field(default_factory=list)
    dns_options: list[dict[str, Any]] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def is_empty(self) -> bool:
        # Spelled out: called for every matching policy, and `fields()` costs more than this.
        return not (
            self.tolerations
            or self.node_required
            or self.node_preferred
            or self.pod_affinity_preferred
            or self.dns_options
            or self.annotations
            or self.labels
        )

    def as_dict(self) -> dict[str, Any]:
        """The non-empty parts, keyed as in the policy language (for --explain and logs)."""
        names = {
            "tolerations": "tolerations",
            "node_required": "nodeAffinity.required",
            "node_preferred": "nodeAffinity.preferred",
            "pod_affinity_preferred": "podAffinity.preferred",
            "dns_options": "dnsConfig.options",
            "annotations": "annotations",
            "labels": "labels",
        }
        return {names[f.name]: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}
