"""`topologySpreadConstraints`: spread constraints appended unless the pod has an equal one.

kube-apiserver refuses two constraints with the same topologyKey and whenUnsatisfiable
(`validateTopologySpreadConstraints`, pkg/apis/core/validation/validation.go): one the pod has
on the same pair wins, and the skip is reported. Placement, so never added to DaemonSet pods.
"""

from __future__ import annotations

from typing import Any

from webhook.kube.pod import Pod, spec
from webhook.kube.validation import FieldError, validate_topology_spread_constraints
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

WHAT = "topology spread constraint"
Constraint = dict[str, Any]


def _compile(add: Mutations, context: Context) -> tuple[Constraint, ...] | None:
    return tuple(c.as_k8s() for c in add.topology_spread_constraints) or None


def _pair(constraint: Any) -> str:
    return f"{constraint.get('topologyKey')} {constraint.get('whenUnsatisfiable')}"


def _missing(
    pod: Pod, rule: tuple[Constraint, ...], facts: PodFacts
) -> tuple[Items, list[Conflict]]:
    found = spec(pod).get("topologySpreadConstraints")
    present = {_pair(c): c for c in found if isinstance(c, dict)} if isinstance(found, list) else {}
    added, conflicts = missing_by_key(WHAT, present, [(_pair(c), c) for c in rule])
    return [constraint for _, constraint in added], conflicts


def _check(items: Items, before: Pod, after: Pod) -> list[FieldError]:
    """The whole list after, as pairs are unique across the pod's and ours; errors the pod's
    own list already had are not ours."""
    path = ("spec", "topologySpreadConstraints")
    errors = validate_topology_spread_constraints(_listed(after), path)
    if not errors:
        return []
    had = {(e.path, e.kind) for e in validate_topology_spread_constraints(_listed(before), path)}
    return [e for e in errors if (e.path, e.kind) not in had]


def _listed(pod: Pod) -> list[Any]:
    found = spec(pod).get("topologySpreadConstraints")
    return found if isinstance(found, list) else []


KIND = MutationKind(
    name="topologySpreadConstraints",
    reads=("topology_spread_constraints",),
    path=("spec", "topologySpreadConstraints"),
    patching=Patching.APPEND,
    placement=True,
    chooses_nodes=True,
    stale=frozenset(),  # no fact reads spread constraints
    compile=_compile,
    missing=_missing,
    noun=WHAT,
    keys=lambda items: [_pair(c) for c in items],
    check=_check,
)
