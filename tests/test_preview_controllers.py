"""The pod each workload controller creates first, as `preview` builds it from a manifest in
tests/workloads/, then through the shipped policies: one row per controller kind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube import validate_pod
from webhook.engine import CompiledPolicySet
from webhook.tools.inputs import Item
from webhook.tools.preview.controllers import PREVIEW_NODE, build_pod, job_of_cronjob
from webhook.tools.preview.report import Row, preview
from webhook.tools.preview.template import uid_of

WORKLOADS = Path(__file__).parent / "workloads"
NOW = datetime(2026, 3, 1, 2, 0, 30, tzinfo=UTC)
NOW_MINUTES = int(NOW.replace(second=0).timestamp()) // 60


def manifest(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKLOADS / f"{name}.yaml").read_text())
    return data


def row_of(name: str, shipped: CompiledPolicySet) -> Row:
    (row,) = preview([Item(name, manifest(name))], shipped, "default", lambda ns: None, NOW, True)
    assert isinstance(row, Row)
    return row


def owner(pod: Any) -> tuple[str, str, str]:
    (ref,) = pod["metadata"]["ownerReferences"]
    assert (ref["controller"], ref["blockOwnerDeletion"]) == (True, True)
    return ref["apiVersion"], ref["kind"], ref["name"]


# name: (pod name or generateName, labels the pod must carry, owner (apiVersion, kind, name),
#        workload as the webhook recognises it, policies, placement after)
CASES: dict[str, tuple[str, dict[str, str], tuple[str, str, str], str, str, str]] = {
    "deployment": (
        "web-{hash}-",
        {"app": "web", "pod-template-hash": "{hash}"},
        ("apps/v1", "ReplicaSet", "web-{hash}"),
        "deployment",
        "default-pool",
        "ng-name In [default]",
    ),
    "replicaset": (
        "api-7c9d5b8f6d-",
        {"app": "api", "pod-template-hash": "7c9d5b8f6d"},
        ("apps/v1", "ReplicaSet", "api-7c9d5b8f6d"),
        "deployment",
        "default-pool",
        "ng-name In [default]",
    ),
    "statefulset": (
        "db-0",
        {
            "app": "db",
            "statefulset.kubernetes.io/pod-name": "db-0",
            "apps.kubernetes.io/pod-index": "0",
        },
        ("apps/v1", "StatefulSet", "db"),
        "data-store",  # a postgres image and a claim template
        "stateful-on-demand",
        "ng-name In [ondemand]",
    ),
    "notebook-statefulset": (
        "alice-gpu-0",
        {"notebook-name": "alice-gpu", "statefulset.kubernetes.io/pod-name": "alice-gpu-0"},
        ("apps/v1", "StatefulSet", "alice-gpu"),
        "notebook",
        "extended-resource-tolerations",  # as tests/cases/gpu-notebook: a GPU node, on demand
        "tol nvidia.com/gpu:NoSchedule",
    ),
    "daemonset": (
        "exporter-",
        {"app": "exporter", "pod-template-generation": "1"},
        ("apps/v1", "DaemonSet", "exporter"),
        "daemonset",
        "",
        f"field:metadata.name In [{PREVIEW_NODE}]",
    ),
    "job": (
        "nightly-etl-",
        {"job-name": "nightly-etl", "batch.kubernetes.io/job-name": "nightly-etl"},
        ("batch/v1", "Job", "nightly-etl"),
        "job",
        "batch-cpu-spot,spot-retries",  # its Job gains spot retries
        "ng-name In [job]; tol job:NoSchedule",
    ),
    "indexed-job": (
        "train-0-",
        {"job-name": "train", "batch.kubernetes.io/job-completion-index": "0"},
        ("batch/v1", "Job", "train"),
        "job",
        # The Job's pod goes to spot: the Job gains spot retries (RetryPolicy spot-retries).
        "extended-resource-tolerations,batch-gpu-spot,spot-retries",
        "k8s.amazonaws.com/accelerator In [nvidia-tesla-v100], ng-name In [g1]; "
        "tol nvidia.com/gpu:NoSchedule",
    ),
    "cronjob": (
        f"nightly-{NOW_MINUTES}-",
        {
            "job-name": f"nightly-{NOW_MINUTES}",
            "batch.kubernetes.io/job-name": f"nightly-{NOW_MINUTES}",
        },
        ("batch/v1", "Job", f"nightly-{NOW_MINUTES}"),
        "job",
        "batch-cpu-spot",
        "ng-name In [job]; tol job:NoSchedule",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_controller_pod_through_the_shipped_policies(
    name: str, shipped_policies: CompiledPolicySet
):
    pod_name, labels, owned_by, workload, policies, after = CASES[name]
    row = row_of(name, shipped_policies)
    pod = row.pod
    meta = pod["metadata"]
    pod_hash = meta["labels"].get("pod-template-hash", "")
    fill = {"hash": pod_hash}
    assert meta.get("name", meta.get("generateName")) == pod_name.format(**fill)
    assert {k: meta["labels"].get(k) for k in labels} == {
        k: v.format(**fill) for k, v in labels.items()
    }
    assert owner(pod) == tuple(part.format(**fill) for part in owned_by)
    assert meta["namespace"] == manifest(name)["metadata"]["namespace"]
    assert (row.workload, ",".join(row.policies), row.after) == (workload, policies, after)
    validate_pod(pod)


def test_a_deployment_pod_is_named_for_the_replicaset_that_carries_its_hash(
    shipped_policies: CompiledPolicySet,
):
    pod = row_of("deployment", shipped_policies).pod
    template_hash = pod["metadata"]["labels"]["pod-template-hash"]
    assert template_hash and set(template_hash) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert pod["metadata"]["generateName"] == f"web-{template_hash}-"
    assert row_of("deployment", shipped_policies).pod == pod  # the same pod every time


def test_a_statefulset_pod_has_its_identity_and_its_claims(shipped_policies: CompiledPolicySet):
    pod = row_of("statefulset", shipped_policies).pod
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("db-0", "db")
    assert pod["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}
    ]
    assert pod["metadata"]["labels"]["controller-revision-hash"].startswith("db-")


def test_a_daemonset_pod_is_pinned_to_its_node_and_tolerates_node_conditions(
    shipped_policies: CompiledPolicySet,
):
    row = row_of("daemonset", shipped_policies)
    spec = row.pod["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms == {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [PREVIEW_NODE]}]}
        ]
    }
    assert {(t["key"], t["effect"]) for t in spec["tolerations"]} == {
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    }
    assert row.before == row.after  # placement is never added to a DaemonSet pod
    assert "controller-revision-hash" in row.pod["metadata"]["labels"]


def test_a_daemonset_template_toleration_with_seconds_becomes_the_controllers():
    ds = manifest("daemonset")
    ds["spec"]["template"]["spec"]["hostNetwork"] = True
    ds["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 60},
    ]  # fmt: skip
    tolerations = build_pod(ds, NOW).pod["spec"]["tolerations"]
    assert tolerations[0] == {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
    }
    assert len(tolerations) == 7  # the six, and network-unavailable for hostNetwork


def test_job_pods_carry_the_labels_kube_apiserver_adds_and_the_tracking_finalizer(
    shipped_policies: CompiledPolicySet,
):
    pod = row_of("job", shipped_policies).pod
    uid = uid_of(manifest("job"))
    labels = pod["metadata"]["labels"]
    assert labels["controller-uid"] == labels["batch.kubernetes.io/controller-uid"] == uid
    assert pod["metadata"]["ownerReferences"][0]["uid"] == uid
    assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    assert pod["metadata"]["annotations"]["example.com/team"] == "data"


def test_a_job_with_a_manual_selector_gets_no_generated_labels():
    job = manifest("job")
    job["spec"]["manualSelector"] = True
    job["spec"]["template"]["metadata"]["labels"] = {"app": "etl"}
    assert build_pod(job, NOW).pod["metadata"]["labels"] == {"app": "etl"}


def test_an_indexed_job_pod_has_completion_index_hostname_and_env(
    shipped_policies: CompiledPolicySet,
):
    pod = row_of("indexed-job", shipped_policies).pod
    key = "batch.kubernetes.io/job-completion-index"
    assert pod["metadata"]["annotations"][key] == "0"
    assert pod["spec"]["hostname"] == "train-0"
    (env,) = pod["spec"]["containers"][0]["env"]
    assert env == {
        "name": "JOB_COMPLETION_INDEX",
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{key}']"}},
    }


def test_a_cronjob_makes_a_job_named_for_its_minute_which_makes_the_pod():
    cronjob = manifest("cronjob")
    job = job_of_cronjob(cronjob, NOW)
    assert job["metadata"]["name"] == f"nightly-{NOW_MINUTES}"
    assert job["metadata"]["annotations"] == {
        "batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-03-01T02:00:00Z"
    }
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    pod = build_pod(cronjob, NOW).pod
    assert "batch.kubernetes.io/cronjob-scheduled-timestamp" not in pod["metadata"].get(
        "annotations", {}
    )
    cronjob["spec"]["timeZone"] = "Europe/Paris"
    zoned = job_of_cronjob(cronjob, NOW)["metadata"]["annotations"]
    assert zoned == {"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-03-01T03:00:00+01:00"}


def test_every_controller_kind_has_a_manifest_here():
    from webhook.tools.preview.controllers import BUILDERS

    kinds = {yaml.safe_load(p.read_text())["kind"] for p in WORKLOADS.glob("*.yaml")}
    assert kinds == set(BUILDERS)
