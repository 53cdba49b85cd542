"""What matching and mutations read from one pod, computed once and only when first asked for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from webhook.kube import pod as podlib
from webhook.kube.resources import extended_resources
from webhook.kube.workloads import workload_of

# The facts computed from each part of the pod; a mutation kind names those it makes stale.
FACTS = ("labels", "annotations", "owner_kinds", "workload", "resources", "extended",
         "own_placement")  # fmt: skip


@dataclass
class PodFacts:
    pod: Mapping[str, Any]
    namespace: str
    namespace_labels: Mapping[str, str] | None = None

    @cached_property
    def labels(self) -> Mapping[str, Any]:
        return podlib.labels_of(self.pod)

    @cached_property
    def annotations(self) -> Mapping[str, Any]:
        return podlib.annotations_of(self.pod)

    @cached_property
    def owner_kinds(self) -> tuple[str, str]:
        return podlib.owner_kind_names(self.pod)

    @cached_property
    def workload(self) -> str:
        return workload_of(self.pod)

    @cached_property
    def resources(self) -> set[str]:
        return podlib.requested_resources(self.pod)

    @cached_property
    def extended(self) -> set[str]:
        return set(extended_resources(self.resources))

    @cached_property
    def own_placement(self) -> bool:
        return podlib.has_own_placement(self.pod, self.extended)

    def advance(self, pod: Mapping[str, Any], stale: Iterable[str]) -> None:
        """Now about `pod`, this pod with some additions applied: only the `stale` facts are
        forgotten, so a policy that adds an annotation does not make every later one read the
        containers again."""
        self.pod = pod
        known = vars(self)  # where cached_property keeps the facts computed so far
        for name in stale:
            known.pop(name, None)
