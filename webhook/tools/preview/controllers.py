"""The pod each workload controller would create first, built from the workload's manifest.

From kubernetes/kubernetes:
- ReplicaSet: `pkg/controller/replicaset/replica_set.go` (`manageReplicas`: `CreatePods` with
  the ReplicaSet as controller).
- Deployment: `pkg/controller/deployment/sync.go` (`getNewReplicaSet`: the ReplicaSet
  `<name>-<hash>`, whose template gains `pod-template-hash: <hash>`), then as a ReplicaSet.
- StatefulSet: `pkg/controller/statefulset/stateful_set_utils.go` (`newVersionedStatefulSetPod`,
  `initIdentity`, `updateStorage`): pod `<set>-<ordinal>`, its name and index labels, the
  revision label, hostname and subdomain, a volume per claim template.
- DaemonSet: `pkg/controller/daemon/util/daemonset_util.go` (`CreatePodTemplate`,
  `AddOrUpdateDaemonPodTolerations`, `ReplaceDaemonSetPodNodeNameNodeAffinity`).
- Job: `pkg/registry/batch/job/strategy.go` (`generateSelector`: the labels kube-apiserver adds
  to the template when the Job is created), `pkg/controller/job/job_controller.go` (`manageJob`:
  the tracking finalizer; for Indexed Jobs the completion index, hostname and generateName) and
  `indexed_job_utils.go`.
- CronJob: `pkg/controller/cronjob/utils.go` (`getJobFromTemplate2`), then as a Job. The
  scheduled-timestamp annotation goes on the Job only: its pods do not carry it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from webhook.tools.preview.daemon import add_daemon_tolerations, pin_to_node
from webhook.tools.preview.template import (
    NoTemplate,
    Obj,
    controller_ref,
    meta,
    name_of,
    pod_from_template,
    pod_template,
    template_hash,
    uid_of,
)

PREVIEW_NODE = "preview-node"  # a DaemonSet pod is pinned to one node: the preview names one
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
MAX_GENERATED_NAME_LENGTH = 58  # names.MaxGeneratedNameLength


class Unsupported(Exception):
    """An object this preview builds no pod from; the message says why."""


@dataclass(frozen=True)
class Built:
    pod: Obj
    workload: str  # "Deployment/web": what the pod was built from; "" for a Pod as given


def build_pod(obj: Mapping[str, Any], now: datetime) -> Built:
    """The pod `obj` is, or the first pod its controller creates; `now` schedules a CronJob."""
    kind = obj.get("kind")
    if kind == "Pod":  # read, never changed: the engine builds the mutated pod apart
        return Built(dict(obj), "")
    builder = BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        readable = ", ".join(["Pod", *BUILDERS])
        raise Unsupported(f"kind {kind!r} has no pod template this preview reads ({readable})")
    try:
        return Built(builder(obj, now), f"{kind}/{name_of(obj)}")
    except NoTemplate as exc:
        raise Unsupported(f"{kind}/{name_of(obj)}: {exc}") from None


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def pod_of_replicaset(rs: Mapping[str, Any], now: datetime) -> Obj:
    return pod_from_template(pod_template(rs), rs, controller_ref(rs, "apps/v1", "ReplicaSet"))


def replicaset_of_deployment(deployment: Mapping[str, Any]) -> Obj:
    template = pod_template(deployment)
    pod_template_hash = template_hash([template, _spec(deployment).get("collisionCount")])
    template["metadata"]["labels"]["pod-template-hash"] = pod_template_hash
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name_of(deployment)}-{pod_template_hash}",
            "namespace": meta(deployment).get("namespace"),
            "labels": dict(template["metadata"]["labels"]),
            "ownerReferences": [controller_ref(deployment, "apps/v1", "Deployment")],
        },
        "spec": {"template": template},
    }


def pod_of_deployment(deployment: Mapping[str, Any], now: datetime) -> Obj:
    return pod_of_replicaset(replicaset_of_deployment(deployment), now)


def pod_of_statefulset(sts: Mapping[str, Any], now: datetime) -> Obj:
    template = pod_template(sts)
    set_name, spec = name_of(sts), _spec(sts)
    ordinals = spec.get("ordinals")
    ordinal = int((ordinals.get("start") if isinstance(ordinals, Mapping) else None) or 0)
    name = f"{set_name}-{ordinal}"
    pod = pod_from_template(template, sts, controller_ref(sts, "apps/v1", "StatefulSet"))
    pod["metadata"].pop("generateName")
    pod["metadata"] = {"name": name, **pod["metadata"]}
    pod["metadata"]["labels"] = {
        **pod["metadata"].get("labels", {}),
        "statefulset.kubernetes.io/pod-name": name,
        "apps.kubernetes.io/pod-index": str(ordinal),
        "controller-revision-hash": f"{set_name}-{template_hash(template)}",
    }
    pod["spec"]["hostname"] = name
    if spec.get("serviceName"):
        pod["spec"]["subdomain"] = spec["serviceName"]
    claims = [name_of(c) for c in spec.get("volumeClaimTemplates") or [] if isinstance(c, Mapping)]
    if claims:
        kept = [v for v in pod["spec"].get("volumes") or [] if v.get("name") not in claims]
        pod["spec"]["volumes"] = [
            {"name": c, "persistentVolumeClaim": {"claimName": f"{c}-{name}"}} for c in claims
        ] + kept
    return pod


def pod_of_daemonset(ds: Mapping[str, Any], now: datetime) -> Obj:
    template = pod_template(ds)
    revision_hash = template_hash(template)
    add_daemon_tolerations(template["spec"])
    # kube-apiserver sets the annotation to "1" when a DaemonSet is created.
    generation = (meta(ds).get("annotations") or {}).get("deprecated.daemonset.template.generation")
    template["metadata"]["labels"]["pod-template-generation"] = str(generation or "1")
    template["metadata"]["labels"]["controller-revision-hash"] = revision_hash
    template["spec"]["affinity"] = pin_to_node(template["spec"].get("affinity"), PREVIEW_NODE)
    return pod_from_template(template, ds, controller_ref(ds, "apps/v1", "DaemonSet"))


def pod_of_job(job: Mapping[str, Any], now: datetime) -> Obj:
    template = pod_template(job)
    name, spec = name_of(job), _spec(job)
    labels = template["metadata"]["labels"]
    if not spec.get("manualSelector"):
        for key in ("job-name", "batch.kubernetes.io/job-name"):
            labels.setdefault(key, name)
        for key in ("controller-uid", "batch.kubernetes.io/controller-uid"):
            labels.setdefault(key, uid_of(job))
    finalizers = template["metadata"].setdefault("finalizers", [])
    if JOB_TRACKING_FINALIZER not in finalizers:
        finalizers.append(JOB_TRACKING_FINALIZER)
    indexed = spec.get("completionMode") == "Indexed"
    if indexed:
        _add_completion_index(template, name, 0)
    pod = pod_from_template(template, job, controller_ref(job, "batch/v1", "Job"))
    if indexed:
        pod["metadata"]["generateName"] = _generate_name_with_index(name, 0)
    return pod


def _add_completion_index(template: Obj, job_name: str, index: int) -> None:
    template["metadata"]["annotations"][INDEX_KEY] = str(index)
    template["metadata"]["labels"][INDEX_KEY] = str(index)  # the PodIndexLabel feature, GA
    template["spec"]["hostname"] = f"{job_name}-{index}"
    env: Obj = {
        "name": "JOB_COMPLETION_INDEX",
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{INDEX_KEY}']"}},
    }
    for key in ("initContainers", "containers"):
        for container in template["spec"].get(key) or []:
            if not any(e.get("name") == env["name"] for e in container.get("env") or []):
                container["env"] = [*(container.get("env") or []), copy.deepcopy(env)]


def _generate_name_with_index(job_name: str, index: int) -> str:
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME_LENGTH:
        prefix = prefix[: MAX_GENERATED_NAME_LENGTH - len(suffix)] + suffix
    return prefix


def job_of_cronjob(cronjob: Mapping[str, Any], now: datetime) -> Obj:
    job_template = _spec(cronjob).get("jobTemplate")
    if not isinstance(job_template, Mapping):
        raise NoTemplate("no spec.jobTemplate to build a Job from")
    scheduled = now.replace(second=0, microsecond=0)
    zone = _spec(cronjob).get("timeZone")
    if isinstance(zone, str) and zone:
        scheduled = scheduled.astimezone(ZoneInfo(zone))
    job_meta = job_template.get("metadata") or {}
    annotations = dict(job_meta.get("annotations") or {})
    annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] = _rfc3339(scheduled)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{name_of(cronjob)}-{int(scheduled.timestamp()) // 60}",
            "namespace": meta(cronjob).get("namespace"),
            "labels": dict(job_meta.get("labels") or {}),
            "annotations": annotations,
            "ownerReferences": [controller_ref(cronjob, "batch/v1", "CronJob")],
        },
        "spec": copy.deepcopy(job_template.get("spec") or {}),
    }


def _rfc3339(moment: datetime) -> str:
    text = moment.isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def pod_of_cronjob(cronjob: Mapping[str, Any], now: datetime) -> Obj:
    return pod_of_job(job_of_cronjob(cronjob, now), now)


BUILDERS: dict[str, Callable[[Mapping[str, Any], datetime], Obj]] = {
    "Deployment": pod_of_deployment,
    "ReplicaSet": pod_of_replicaset,
    "StatefulSet": pod_of_statefulset,
    "DaemonSet": pod_of_daemonset,
    "Job": pod_of_job,
    "CronJob": pod_of_cronjob,
}
