"""What matching and mutations read from one pod, computed once and only when first asked for."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from webhook.kube import pod as podlib
from webhook.kube.choice import chooses_a_pool
from webhook.kube.kueue import queued_by_kueue
from webhook.kube.resources import is_extended_resource_name
from webhook.kube.scheduling import Node
from webhook.kube.workloads import workload_from

# The facts a mutation kind can name as made stale by its additions (`MutationKind.stale`).
FACTS = ("labels", "annotations", "owner_kinds", "workload", "resources", "extended",
         "own_placement", "queued")  # fmt: skip
# Those read whole by a match clause: made stale, they have changed for it only if their value
# differs (an annotation added rarely changes the workload kind).
VALUE_FACTS = frozenset({"workload", "own_placement", "queued"})

T = TypeVar("T")

if TYPE_CHECKING:
    from functools import cached_property as lazy
else:

    class lazy(Generic[T]):
        """`functools.cached_property` without its lock (Python 3.11 takes one per first read):
        facts live in one request's thread."""

        def __init__(self, compute: Callable[[Any], T]) -> None:
            self.compute = compute
            self.name = compute.__name__

        def __get__(self, facts: Any, owner: Any = None) -> T:
            if facts is None:
                return self  # type: ignore[return-value]
            value = facts.__dict__[self.name] = self.compute(facts)
            return value


class PodFacts:
    def __init__(
        self,
        pod: Mapping[str, Any],
        namespace: str,
        namespace_labels: Mapping[str, str] | None = None,
        platform_keys: Collection[str] = podlib.PLATFORM_LABEL_KEYS,
        pools: Sequence[Node] = (),
    ) -> None:
        self.pod = pod
        self.namespace = namespace
        self.namespace_labels = namespace_labels
        self.platform_keys = platform_keys  # PolicySettings platformLabelKeys
        self.pools = pools  # the set's NodePools: own placement is a choice among them

    @lazy
    def labels(self) -> Mapping[str, Any]:
        return podlib.labels_of(self.pod)

    @lazy
    def annotations(self) -> Mapping[str, Any]:
        return podlib.annotations_of(self.pod)

    @lazy
    def owner_kinds(self) -> tuple[str, str]:
        return podlib.owner_kind_names(self.pod)

    @lazy
    def workload(self) -> str:
        return workload_from(self.labels, self.annotations, self.owner_kinds, self.pod)

    @lazy
    def resources(self) -> set[str]:
        return podlib.requested_resources(self.pod)

    @lazy
    def extended(self) -> set[str]:
        # Most names (cpu, memory) have no "/": only those with one can be extended.
        return {n for n in self.resources if "/" in n and is_extended_resource_name(n)}

    @lazy
    def own_placement(self) -> bool:
        if self.pools:
            return chooses_a_pool(self.pod, self.extended, self.platform_keys, self.pools)
        return podlib.has_own_placement(self.pod, self.extended, self.platform_keys)

    @lazy
    def queued(self) -> bool:
        """Kueue admits the pod and its ResourceFlavor places it (see `webhook.kube.kueue`)."""
        return queued_by_kueue(self.labels, self.annotations, self.pod)

    @lazy
    def never_placed(self) -> str:
        """Why no placement may be added ("" when it may: `podlib.never_placed`)."""
        return podlib.never_placed(self.owner_kinds[0], self.annotations, podlib.spec(self.pod))

    @lazy
    def bound(self) -> str:
        """Why nothing that chooses nodes may be added ("" when it may: `podlib.bound_to`)."""
        return podlib.bound_to(podlib.spec(self.pod))

    def known(self, names: Iterable[str]) -> dict[str, Any]:
        """The values of the facts among `names` computed so far (none is computed here)."""
        known = self.__dict__
        return {name: known[name] for name in names if name in known}

    def advance(self, pod: Mapping[str, Any], stale: Iterable[str]) -> None:
        """Now about `pod`, this pod with some additions applied: only the `stale` facts are
        forgotten, so a policy that adds an annotation does not make every later one read the
        containers again."""
        self.pod = pod
        known = self.__dict__
        for name in stale:
            known.pop(name, None)
