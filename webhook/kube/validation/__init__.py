"""kube-apiserver's validation of the Pod fields a policy can add, ported to Python.

Each rule is a pure function of plain JSON-shaped data returning a list of `FieldError` (empty:
valid), with upstream's paths and messages, so the policy loader and the tests judge a value
exactly as the apiserver will judge the pod it ends up in. The modules name the upstream
functions they port.
"""

from webhook.kube.validation.dns import validate_pod_dns_config
from webhook.kube.validation.field import FieldError, Key, Path, dotted
from webhook.kube.validation.meta import (
    TOTAL_ANNOTATION_SIZE_LIMIT_BYTES,
    annotations_size,
    validate_annotations,
    validate_label_name,
    validate_label_selector,
    validate_labels,
)
from webhook.kube.validation.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_int,
    is_label_value,
    is_qualified_name,
    parse_int,
)
from webhook.kube.validation.nodeaffinity import (
    validate_node_selector,
    validate_node_selector_requirement,
    validate_node_selector_requirement_for_scheduler,
    validate_preferred_scheduling_terms,
)
from webhook.kube.validation.podaffinity import (
    validate_affinity,
    validate_pod_affinity_term,
    validate_weighted_pod_affinity_terms,
)
from webhook.kube.validation.podannotations import (
    depends_on_the_pod,
    is_checked_annotation,
    validate_annotations_match_fields_on_create,
    validate_pod_specific_annotations,
)
from webhook.kube.validation.spread import validate_topology_spread_constraints
from webhook.kube.validation.tolerations import validate_toleration, validate_tolerations

__all__ = [
    "TOTAL_ANNOTATION_SIZE_LIMIT_BYTES",
    "FieldError",
    "Key",
    "Path",
    "annotations_size",
    "depends_on_the_pod",
    "dotted",
    "is_checked_annotation",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_int",
    "is_label_value",
    "is_qualified_name",
    "parse_int",
    "validate_affinity",
    "validate_annotations",
    "validate_annotations_match_fields_on_create",
    "validate_label_name",
    "validate_label_selector",
    "validate_labels",
    "validate_node_selector",
    "validate_node_selector_requirement",
    "validate_node_selector_requirement_for_scheduler",
    "validate_pod_affinity_term",
    "validate_pod_dns_config",
    "validate_pod_specific_annotations",
    "validate_preferred_scheduling_terms",
    "validate_toleration",
    "validate_tolerations",
    "validate_topology_spread_constraints",
    "validate_weighted_pod_affinity_terms",
]
