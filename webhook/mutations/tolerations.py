"""`tolerations`: the tolerations a policy lists, appended unless an equal one is there."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webhook.kube.pod import Pod, tolerations
from webhook.match.facts import PodFacts
from webhook.mutations.kind import Conflict, Items, MutationKind, Patching
from webhook.policy.model import Mutations

Toleration = Mapping[str, Any]


def same_toleration(a: Toleration, b: Toleration) -> bool:
    """`MatchToleration` (pkg/apis/core/helper): key, operator, value and effect equal; an
    empty operator means Equal."""
    return (
        (a.get("key") or "") == (b.get("key") or "")
        and (a.get("operator") or "Equal") == (b.get("operator") or "Equal")
        and (a.get("value") or "") == (b.get("value") or "")
        and (a.get("effect") or "") == (b.get("effect") or "")
    )


def missing_tolerations(pod: Pod, wanted: Iterable[Toleration]) -> list[dict[str, Any]]:
    """The tolerations of `wanted` that neither the pod nor an earlier entry of `wanted` has
    (`helper.AddOrUpdateTolerationInPod` appends only those)."""
    present: list[Toleration] = list(tolerations(pod))
    out: list[dict[str, Any]] = []
    for tol in wanted:
        if not any(same_toleration(tol, have) for have in present):
            present.append(tol)
            out.append(dict(tol))
    return out


def _compile(add: Mutations) -> tuple[dict[str, Any], ...] | None:
    return tuple(t.as_k8s() for t in add.tolerations) or None


def _missing(
    pod: Pod, rule: tuple[dict[str, Any], ...], facts: PodFacts
) -> tuple[Items, list[Conflict]]:
    return missing_tolerations(pod, rule), []


KIND = MutationKind(
    name="tolerations",
    reads=("tolerations",),
    path=("spec", "tolerations"),
    patching=Patching.APPEND,
    placement=True,
    stale=frozenset({"own_placement"}),
    compile=_compile,
    missing=_missing,
)
