"""A whole Pod judged by the ported kube-apiserver rules (webhook.kube.validation), for tests that
check what a patched pod would meet at the apiserver: every rule on a field a policy can add."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.kube.validation import (
    validate_affinity,
    validate_annotations,
    validate_annotations_match_fields_on_create,
    validate_labels,
    validate_node_selector_requirement_for_scheduler,
    validate_pod_dns_config,
    validate_pod_specific_annotations,
    validate_tolerations,
    validate_topology_spread_constraints,
)


def api_errors(pod: Mapping[str, Any]) -> list[str]:
    """What kube-apiserver (and kube-scheduler, for node affinity) would refuse in `pod`."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    errors = validate_labels(labels, ("metadata", "labels"))
    errors += validate_annotations(annotations, ("metadata", "annotations"))
    errors += validate_pod_specific_annotations(annotations, spec, ("metadata", "annotations"))
    errors += validate_annotations_match_fields_on_create(annotations, spec, ("spec",))
    errors += validate_tolerations(spec.get("tolerations") or [], ("spec", "tolerations"))
    affinity = spec.get("affinity") or {}
    errors += validate_affinity(affinity, ("spec", "affinity"))
    errors += validate_pod_dns_config(
        spec.get("dnsConfig"), spec.get("dnsPolicy", "ClusterFirst"), ("spec", "dnsConfig")
    )
    errors += validate_topology_spread_constraints(
        spec.get("topologySpreadConstraints") or [], ("spec", "topologySpreadConstraints")
    )
    node = affinity.get("nodeAffinity") or {}
    required = node.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = [
        t.get("preference") or {}
        for t in node.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    ]
    terms += required.get("nodeSelectorTerms") or []
    for term in terms:
        for expression in term.get("matchExpressions") or []:
            errors += validate_node_selector_requirement_for_scheduler(expression, ("node",))
    return [str(e) for e in errors]
