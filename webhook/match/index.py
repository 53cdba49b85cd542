"""What a policy can be found by, so most policies are never evaluated for a pod."""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from webhook.match.clauses import glob_matcher
from webhook.policy.model import MatchSpec

IndexKeys = tuple[tuple[str, ...], tuple[tuple[str, str | None], ...]]


def index_keys(spec: MatchSpec) -> IndexKeys:
    """(names, ()) when the policy lists exact namespaces only; ((), pairs) when its pod
    selector needs a label: (key, value) for each value it accepts, or (key, None) for any
    value; ((), ()) when it must be considered for every pod.
    """
    if spec.namespaces and not any(any(c in n for c in "*?[") for n in spec.namespaces):
        # Deduplicated: a name listed twice must not make the policy a candidate twice.
        return tuple(dict.fromkeys(spec.namespaces)), ()
    selector = spec.pod_selector
    if selector is not None:
        if selector.match_labels:
            key = sorted(selector.match_labels)[0]
            return (), ((key, selector.match_labels[key]),)
        for expr in selector.match_expressions:
            if expr.operator == "In":
                return (), tuple((expr.key, v) for v in dict.fromkeys(expr.values))
            if expr.operator == "Exists":
                return (), ((expr.key, None),)
    return (), ()


class Indexed(Protocol):
    @property
    def position(self) -> int: ...

    @property
    def match(self) -> MatchSpec: ...


T = TypeVar("T", bound=Indexed)


class PolicyIndex(Generic[T]):
    """Policies by exact namespace, by required pod label, by namespace glob, or always."""

    def __init__(self, policies: Sequence[T], added_labels: Collection[str]) -> None:
        always: list[T] = []
        by_namespace: dict[str, list[T]] = defaultdict(list)
        by_label: dict[tuple[str, str | None], list[T]] = defaultdict(list)
        globbed: list[tuple[Callable[[str], bool], T]] = []
        for policy in policies:
            names, label_values = index_keys(policy.match)
            if names:
                for ns in names:
                    by_namespace[ns].append(policy)
            # A label some policy adds can appear mid-pass: policies keyed on it run for all.
            elif label_values and label_values[0][0] not in added_labels:
                for pair in label_values:
                    by_label[pair].append(policy)
            elif policy.match.namespaces:
                globbed.append((glob_matcher(policy.match.namespaces), policy))
            else:
                always.append(policy)
        self.always = tuple(always)
        self.by_namespace = {k: tuple(v) for k, v in by_namespace.items()}
        self.by_label = {k: tuple(v) for k, v in by_label.items()}

        # A cluster has hundreds of namespaces: each one's glob matches are worked out once.
        @functools.lru_cache(maxsize=4096)
        def by_namespace_glob(namespace: str) -> tuple[T, ...]:
            return tuple(p for matches, p in globbed if matches(namespace))

        self.by_namespace_glob = by_namespace_glob

    def candidates(self, namespace: str, pod_labels: Mapping[str, Any]) -> list[T]:
        """The policies that can match a pod in `namespace` with `pod_labels`, in order."""
        found = list(self.always)
        found += self.by_namespace.get(namespace, ())
        found += self.by_namespace_glob(namespace)
        if self.by_label:
            for key, value in pod_labels.items():
                found += self.by_label.get((key, None), ())
                if isinstance(value, str):  # the pod is raw input: a value may be anything
                    found += self.by_label.get((key, value), ())
        if len(found) != len(self.always):
            found.sort(key=_position)
        return found


_position = operator.attrgetter("position")
