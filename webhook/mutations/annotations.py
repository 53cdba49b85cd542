"""`annotations`: added when the pod lacks the key; the pod's own value always wins."""

from webhook.mutations.kind import keyed_kind

KIND = keyed_kind(
    "annotations",
    noun="annotation",
    path=("metadata", "annotations"),
    stale=frozenset({"annotations", "workload"}),  # kubernetes.io/config.mirror: a mirror pod
)
