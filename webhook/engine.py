"""The core: (compiled policies, pod, namespace) -> JSON Patch and a report. Pure: no I/O.

Policies run in order; each sees the pod as the policies before it left it, so a routing policy
sees the placement a spot policy just added. A policy that fails on a pod is skipped and
reported; it never blocks the pod.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook import patch
from webhook.additions import Additions
from webhook.match import (
    Check,
    PodFacts,
    compile_match,
    first_failure,
    glob_matcher,
    index_keys,
)
from webhook.mutations.affinity import (
    mirrored_node_selector,
    missing_preferred_terms,
    missing_required_expressions,
    workflow_pod_affinity_term,
)
from webhook.mutations.dns import missing_dns_options
from webhook.mutations.keyed import Conflict, missing_entries
from webhook.mutations.tolerations import missing_tolerations, tolerations_for_extended_resources
from webhook.pod import annotations_of, is_daemonset_or_mirror, labels_of
from webhook.policy.load import PolicySet
from webhook.policy.model import Mutations, PlacementPolicy, SettingsSpec

WARNING_LIMIT = 120  # characters; the Kubernetes docs advise short warnings


@dataclass(frozen=True)
class CompiledPolicy:
    policy: PlacementPolicy
    position: int
    match: list[Check]
    exclude: tuple[list[Check], ...]

    @property
    def name(self) -> str:
        return self.policy.name


@dataclass(frozen=True)
class CompiledPolicySet:
    """A PolicySet with matchers compiled and policies indexed by what they match on."""

    source: PolicySet
    policies: tuple[CompiledPolicy, ...]
    always: tuple[CompiledPolicy, ...]
    by_namespace: Mapping[str, tuple[CompiledPolicy, ...]]
    # (label key, value) for a selector that needs that value, (label key, None) for any value.
    by_label: Mapping[tuple[str, str | None], tuple[CompiledPolicy, ...]]
    # Policies whose namespaces include a glob, those that match one namespace.
    by_namespace_glob: Callable[[str], tuple[CompiledPolicy, ...]]
    placement_excluded: Callable[[str], bool]

    @property
    def settings(self) -> SettingsSpec:
        return self.source.settings

    def candidates(self, namespace: str, pod_labels: Mapping[str, Any]) -> list[CompiledPolicy]:
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


def compile_policy_set(policy_set: PolicySet) -> CompiledPolicySet:
    compiled = tuple(
        CompiledPolicy(
            policy=p,
            position=i,
            match=compile_match(p.spec.match),
            exclude=tuple(compile_match(e) for e in p.spec.exclude),
        )
        for i, p in enumerate(policy_set.policies)
    )
    # A label that some policy adds can appear mid-pass: policies keyed on it run for every pod.
    added_labels = {k for p in policy_set.policies for k in p.spec.add.labels}
    always: list[CompiledPolicy] = []
    by_namespace: dict[str, list[CompiledPolicy]] = defaultdict(list)
    by_label: dict[tuple[str, str | None], list[CompiledPolicy]] = defaultdict(list)
    globbed: list[tuple[Callable[[str], bool], CompiledPolicy]] = []
    for c in compiled:
        names, label_values = index_keys(c.policy.spec.match)
        if names:
            for ns in names:
                by_namespace[ns].append(c)
        elif label_values and label_values[0][0] not in added_labels:
            for pair in label_values:
                by_label[pair].append(c)
        elif c.policy.spec.match.namespaces:
            globbed.append((glob_matcher(c.policy.spec.match.namespaces), c))
        else:
            always.append(c)

    # A cluster has hundreds of namespaces: each one's glob matches are worked out once.
    @functools.lru_cache(maxsize=4096)
    def by_namespace_glob(namespace: str) -> tuple[CompiledPolicy, ...]:
        return tuple(c for matches, c in globbed if matches(namespace))

    return CompiledPolicySet(
        source=policy_set,
        policies=compiled,
        always=tuple(always),
        by_namespace={k: tuple(v) for k, v in by_namespace.items()},
        by_label={k: tuple(v) for k, v in by_label.items()},
        by_namespace_glob=by_namespace_glob,
        placement_excluded=glob_matcher(policy_set.settings.placement_excluded_namespaces),
    )


@dataclass
class PolicyOutcome:
    """One policy's verdict on one pod (what `--explain` prints)."""

    name: str
    mode: str
    matched: bool
    reason: str | None = None
    additions: Additions = field(default_factory=Additions)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Result:
    ops: list[patch.Op]
    applied: list[str]
    warnings: list[str]
    outcomes: list[PolicyOutcome]
    pod: Mapping[str, Any]
    audited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def additions_for(
    mutations: Mutations, pod: Mapping[str, Any], facts: PodFacts, placement: bool
) -> tuple[Additions, list[Conflict]]:
    """What one policy adds to `pod`. `placement` False drops tolerations and affinities."""
    adds = Additions()
    conflicts: list[Conflict] = []
    tolerations = []
    if mutations.extended_resource_tolerations is not None:
        tolerations += tolerations_for_extended_resources(
            facts.resources, mutations.extended_resource_tolerations
        )
    if placement:
        tolerations += [t.as_k8s() for t in mutations.tolerations]
    # Each part is looked at only when the policy has something for it: on the request path.
    if tolerations:
        adds.tolerations = missing_tolerations(pod, tolerations)
    if placement:
        wanted = mirrored_node_selector(pod) if mutations.mirror_node_selector else []
        if mutations.node_affinity is not None:
            wanted += [e.as_k8s() for e in mutations.node_affinity.required]
            if mutations.node_affinity.preferred:
                adds.node_preferred = missing_preferred_terms(
                    pod, mutations.node_affinity.preferred
                )
        if wanted:
            adds.node_required, found = missing_required_expressions(pod, wanted)
            conflicts += found
        if mutations.workflow_pod_affinity is not None:
            adds.pod_affinity_preferred = workflow_pod_affinity_term(
                pod, mutations.workflow_pod_affinity
            )
    if mutations.dns_config is not None:
        adds.dns_options, found = missing_dns_options(pod, mutations.dns_config.options)
        conflicts += found
    if mutations.annotations:
        adds.annotations, found = missing_entries(
            "annotation", facts.annotations, mutations.annotations
        )
        conflicts += found
    if mutations.labels:
        adds.labels, found = missing_entries("label", facts.labels, mutations.labels)
        conflicts += found
    return adds, conflicts


def _provenance_keys(adds: Additions) -> list[tuple[str, str]]:
    keys = [("annotation", k) for k in adds.annotations]
    keys += [("label", k) for k in adds.labels]
    keys += [("dns option", str(o["name"])) for o in adds.dns_options]
    keys += [("required node affinity", str(e["key"])) for e in adds.node_required]
    return keys


def _short(text: str) -> str:
    return text if len(text) <= WARNING_LIMIT else text[: WARNING_LIMIT - 3] + "..."


def mutate(
    compiled: CompiledPolicySet,
    pod: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None = None,
    explain: bool = False,
) -> Result:
    """Run every policy on `pod` and return the patch that applies their additions."""
    settings = compiled.settings
    facts = PodFacts(pod, namespace, namespace_labels)
    placement_blocked: str | None = None
    if is_daemonset_or_mirror(pod):
        placement_blocked = "daemonset, mirror or bound pod: placement is never added"
    elif compiled.placement_excluded(namespace):
        placement_blocked = f"namespace {namespace!r} is excluded from placement"

    working: Mapping[str, Any] = pod
    ops: list[patch.Op] = []
    applied: list[str] = []
    audited: list[str] = []
    warnings: list[str] = []
    errors: list[str] = []
    outcomes: list[PolicyOutcome] = []
    set_by: dict[tuple[str, str], str] = {}

    policies = compiled.policies if explain else compiled.candidates(namespace, labels_of(pod))
    for policy in policies:
        spec = policy.policy.spec
        reason = first_failure(policy.match, facts)
        if reason is None:
            for index, exclude in enumerate(policy.exclude):
                if first_failure(exclude, facts) is None:
                    reason = f"excluded by exclude[{index}]"
                    break
        if reason is not None:
            if explain:
                outcomes.append(PolicyOutcome(policy.name, spec.mode, False, reason))
            continue
        outcome = PolicyOutcome(policy.name, spec.mode, True)
        outcomes.append(outcome)
        if placement_blocked:
            outcome.notes.append(placement_blocked)
        try:
            adds, conflicts = additions_for(spec.add, working, facts, placement_blocked is None)
            policy_ops, new_working = (
                ([], working) if adds.is_empty() else patch.patched(working, adds)
            )
        except Exception as exc:  # a policy's own bug must never block a pod: skip it
            outcome.error = f"{type(exc).__name__}: {exc}"
            errors.append(f"policy {policy.name}: {outcome.error}")
            warnings.append(_short(f"policy {policy.name} skipped: internal error"))
            continue
        outcome.additions = adds
        for conflict in conflicts:
            owner = set_by.get((conflict.what, conflict.key))
            if owner is not None:
                warnings.append(
                    _short(
                        f"policy {policy.name}: {conflict.what} {conflict.key} kept from "
                        f"policy {owner}"
                    )
                )
                outcome.notes.append(f"{conflict.what} {conflict.key}: policy {owner} set it first")
            else:
                outcome.notes.append(f"{conflict.what} {conflict.key}: the pod's own value kept")
        if adds.is_empty():
            continue
        if spec.mode == "audit":
            audited.append(policy.name)
            warnings.append(
                _short(f"policy {policy.name} (audit) would add: " + ", ".join(adds.as_dict()))
            )
            continue
        for key in _provenance_keys(adds):
            set_by.setdefault(key, policy.name)
        ops += policy_ops
        working = new_working
        applied.append(policy.name)
        facts.advance(working, adds)

    if applied:
        try:
            ops += _annotation_ops(working, settings.annotation_key, applied)
            working = patch.apply_ops(working, ops[-1:])
        except patch.PatchError as exc:
            warnings.append(_short(f"annotation {settings.annotation_key} not added: {exc}"))
    return Result(ops, applied, warnings, outcomes, working, audited, errors)


def _annotation_ops(pod: Mapping[str, Any], key: str, applied: list[str]) -> list[patch.Op]:
    """Name the policies that changed the pod, keeping names listed by an earlier call."""
    listed = [n for n in str(annotations_of(pod).get(key) or "").split(",") if n]
    names = listed + [n for n in applied if n not in listed]
    return patch.set_key_ops(pod, ("metadata", "annotations"), {key: ",".join(names)})
