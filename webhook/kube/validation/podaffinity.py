"""Pod affinity and anti-affinity, as kube-apiserver validates them on a Pod create.

Ported from kubernetes `pkg/apis/core/validation/validation.go`: validatePodAffinityTerm (with
ValidatePodAffinityTermSelector and validateMatchLabelKeysAndMismatchLabelKeys),
validateWeightedPodAffinityTerms, and validateAffinity, which also runs the node affinity
rules. Selectors refuse invalid label values (AllowInvalidLabelValueInSelector is only set on
update).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.kube.validation.field import FieldError, Path, forbidden, invalid, required
from webhook.kube.validation.meta import (
    mapping,
    sequence,
    text,
    validate_label_name,
    validate_label_selector,
)
from webhook.kube.validation.names import is_dns1123_label
from webhook.kube.validation.nodeaffinity import (
    validate_node_selector,
    validate_preferred_scheduling_terms,
    weight_errors,
)


def validate_pod_affinity_term(term: Mapping[str, Any], path: Path) -> list[FieldError]:
    selector = term.get("labelSelector")
    errors = validate_label_selector(
        mapping(selector) if selector is not None else None, (*path, "labelSelector")
    )
    namespace_selector = term.get("namespaceSelector")
    errors += validate_label_selector(
        mapping(namespace_selector) if namespace_selector is not None else None,
        (*path, "namespaceSelector"),
    )
    for name in sequence(term.get("namespaces")):
        namespace = name if isinstance(name, str) else ""
        errors += [
            invalid((*path, "namespace"), name, message) for message in is_dns1123_label(namespace)
        ]
    errors += _match_label_keys_errors(term, path)
    topology_key = text(term, "topologyKey")
    if not topology_key:
        errors.append(required((*path, "topologyKey"), "can not be empty"))
    return errors + validate_label_name(topology_key, (*path, "topologyKey"))


def _match_label_keys_errors(term: Mapping[str, Any], path: Path) -> list[FieldError]:
    """validateMatchLabelKeysAndMismatchLabelKeys."""
    selector = term.get("labelSelector")
    match_keys = [k for k in sequence(term.get("matchLabelKeys")) if isinstance(k, str)]
    mismatch_keys = [k for k in sequence(term.get("mismatchLabelKeys")) if isinstance(k, str)]
    errors: list[FieldError] = []
    for name, keys in (("matchLabelKeys", match_keys), ("mismatchLabelKeys", mismatch_keys)):
        if keys and selector is None:
            errors.append(
                forbidden((*path, name), "must not be specified when labelSelector is not set")
            )
        elif keys:
            for index, key in enumerate(keys):
                errors += validate_label_name(key, (*path, name, index))
    if selector is not None:
        index_of = {key: index for index, key in enumerate(match_keys)}
        seen = set(mapping(mapping(selector).get("matchLabels")))
        for expression in sequence(mapping(selector).get("matchExpressions")):
            key = text(mapping(expression), "key")
            if key in index_of and key in seen:
                # Upstream's path: the term's, indexed by the key's position.
                errors.append(
                    invalid(
                        (*path, index_of[key]),
                        key,
                        "exists in both matchLabelKeys and labelSelector",
                    )
                )
            seen.add(key)
    mismatch = set(mismatch_keys)
    for index, key in enumerate(match_keys):
        if key in mismatch:
            errors.append(
                invalid(
                    (*path, "matchLabelKeys", index),
                    key,
                    "exists in both matchLabelKeys and mismatchLabelKeys",
                )
            )
    return errors


def validate_weighted_pod_affinity_terms(terms: list[Any], path: Path) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, item in enumerate(terms):
        term = mapping(item)
        errors += weight_errors(term, (*path, index))
        errors += validate_pod_affinity_term(
            mapping(term.get("podAffinityTerm")), (*path, index, "podAffinityTerm")
        )
    return errors


def validate_affinity(affinity: Mapping[str, Any], path: Path) -> list[FieldError]:
    """validateAffinity with validateNodeAffinity, validatePodAffinity, validatePodAntiAffinity."""
    errors: list[FieldError] = []
    node = affinity.get("nodeAffinity")
    if node is not None:
        node_path = (*path, "nodeAffinity")
        required_terms = mapping(node).get("requiredDuringSchedulingIgnoredDuringExecution")
        if required_terms is not None:
            errors += validate_node_selector(
                mapping(required_terms),
                (*node_path, "requiredDuringSchedulingIgnoredDuringExecution"),
            )
        errors += validate_preferred_scheduling_terms(
            sequence(mapping(node).get("preferredDuringSchedulingIgnoredDuringExecution")),
            (*node_path, "preferredDuringSchedulingIgnoredDuringExecution"),
        )
    for kind in ("podAffinity", "podAntiAffinity"):
        pod = affinity.get(kind)
        if pod is None:
            continue
        for index, term in enumerate(
            sequence(mapping(pod).get("requiredDuringSchedulingIgnoredDuringExecution"))
        ):
            errors += validate_pod_affinity_term(
                mapping(term),
                (*path, kind, "requiredDuringSchedulingIgnoredDuringExecution", index),
            )
        errors += validate_weighted_pod_affinity_terms(
            sequence(mapping(pod).get("preferredDuringSchedulingIgnoredDuringExecution")),
            (*path, kind, "preferredDuringSchedulingIgnoredDuringExecution"),
        )
    return errors
