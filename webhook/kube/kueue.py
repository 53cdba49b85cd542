"""Whether Kueue places a pod: what Kueue puts on the pods it manages, at CREATE.

Kueue places a pod through its ResourceFlavor: the flavor's `nodeLabels` become the pod's
nodeSelector and its `tolerations` are added (kubernetes-sigs/kueue `pkg/podset/podset.go`,
`FromAssignment`). A placement of our own, added as required node affinity, would be ANDed with
the flavor's and can leave the pod unschedulable when the two name different pools.

- A plain pod Kueue manages (`pkg/controller/jobs/pod/pod_webhook.go`, `Default`) carries the
  `kueue.x-k8s.io/queue-name` label (its author's or the namespace's default LocalQueue),
  `kueue.x-k8s.io/managed: "true"` and the scheduling gate `kueue.x-k8s.io/admission`; with
  topology-aware scheduling also the gate `kueue.x-k8s.io/topology`. Pods of a Kueue-managed
  Deployment, StatefulSet or LeaderWorkerSet are annotated `kueue.x-k8s.io/pod-suspending-parent`
  (`pkg/controller/jobs/deployment/deployment_webhook.go` and the others) and gated the same way.
- A pod of a Job, JobSet, RayJob, PyTorchJob... that Kueue admitted is created from the
  template Kueue rewrote before unsuspending it (`pkg/controller/jobframework/reconciler.go`,
  `getPodSetsInfoFromStatus`): the label `kueue.x-k8s.io/podset`, the flavor's nodeSelector and
  tolerations, and with AssignQueueLabelsForPods `kueue.x-k8s.io/local-queue-name`.

Kueue's own webhook may run before or after this one (webhooks run in the order of their
configurations' names, and are reinvoked): the queue-name label is read as well as the gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.kube.pod import Pod, scheduling_gates

QUEUE_LABELS = frozenset(
    {"kueue.x-k8s.io/queue-name", "kueue.x-k8s.io/podset", "kueue.x-k8s.io/local-queue-name"}
)
MANAGED_LABEL = "kueue.x-k8s.io/managed"
SUSPENDED_BY_PARENT = "kueue.x-k8s.io/pod-suspending-parent"
GATES = frozenset({"kueue.x-k8s.io/admission", "kueue.x-k8s.io/topology"})


def queued_by_kueue(labels: Mapping[str, Any], annotations: Mapping[str, Any], pod: Pod) -> bool:
    """Whether Kueue admits this pod and its ResourceFlavor places it."""
    # Read on every review: a set test in C, and the gates only when the pod has some.
    if labels and (
        not labels.keys().isdisjoint(QUEUE_LABELS) or labels.get(MANAGED_LABEL) == "true"
    ):
        return True
    if SUSPENDED_BY_PARENT in annotations:
        return True
    gates = scheduling_gates(pod)
    return bool(gates) and any(type(gate) is str and gate in GATES for gate in gates)
