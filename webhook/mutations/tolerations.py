"""`tolerations`: the tolerations a policy lists, appended unless an equal one is there."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from webhook.kube.pod import Pod, tolerations
from webhook.match.facts import PodFacts
from webhook.mutations.kind import Conflict, Context, Items, MutationKind, Patching
from webhook.policy.model import Mutations

Toleration = Mapping[str, Any]


def identity(tol: Toleration) -> tuple[Any, Any, Any, Any]:
    """What `MatchToleration` (pkg/apis/core/helper) compares: key, operator, value and
    effect; an empty operator means Equal."""
    return (
        tol.get("key") or "",
        tol.get("operator") or "Equal",
        tol.get("value") or "",
        tol.get("effect") or "",
    )


def missing_tolerations(pod: Pod, wanted: Iterable[Toleration]) -> list[dict[str, Any]]:
    """The tolerations of `wanted` that neither the pod nor an earlier entry of `wanted` has
    (`helper.AddOrUpdateTolerationInPod` appends only those)."""
    try:
        present = {identity(t) for t in tolerations(pod)}
    except TypeError:
        # The pod is raw input: a list or a map where a string belongs equals no policy value.
        present = {identity(t) for t in tolerations(pod) if _scalar(identity(t))}
    out: list[dict[str, Any]] = []
    for tol in wanted:
        same = identity(tol)
        if same not in present:
            present.add(same)
            out.append(dict(tol))
    return out


def _scalar(values: tuple[Any, ...]) -> bool:
    return all(isinstance(v, str | int | float | bool) for v in values)


def _compile(add: Mutations, context: Context) -> tuple[dict[str, Any], ...] | None:
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
    chooses_nodes=True,
    stale=frozenset({"own_placement"}),
    compile=_compile,
    missing=_missing,
)
