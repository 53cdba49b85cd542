"""`annotations`: added when the pod lacks the key; the pod's own value always wins."""

from webhook.mutations.kind import keyed_kind

KIND = keyed_kind(
    "annotations",
    noun="annotation",
    path=("metadata", "annotations"),
    # kubernetes.io/config.mirror makes a mirror pod; pipelines.kubeflow.org/runtime-role a KFP
    # driver; kueue.x-k8s.io/pod-suspending-parent a pod Kueue places.
    stale=frozenset({"annotations", "workload", "queued"}),
)
