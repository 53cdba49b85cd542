"""`labels`: added when the pod lacks the key; the pod's own value always wins."""

from webhook.mutations.kind import keyed_kind

KIND = keyed_kind(
    "labels",
    noun="label",
    path=("metadata", "labels"),
    stale=frozenset({"labels", "workload", "queued"}),  # read from labels
)
