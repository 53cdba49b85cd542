"""The final judgement in the cases the per-policy guard got wrong: the pod as it will be sent,
after every policy, judged against the declared pools (the model cluster of
`tests/cluster_model`, and kube-scheduler's filters, say where it can run).

Each pod is one a real controller writes (`tests/cases/workloads/`, citing its source), and
each patch is applied with the real kubectl.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster_model import Cluster
from tests.kube import kubectl_patch, validate_pod
from tests.pods import SHIPPED_POLICIES
from tests.scraping import client, patch_of, pod_review, response_of, scrape, send, value
from tests.servers import running_server
from webhook.engine import compile_policy_set, mutate
from webhook.policy import load_policy_set
from webhook.tools.cli import main

WORKLOADS = Path(__file__).parent / "cases" / "workloads"
HEADER = "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"


def workload(name: str, namespace: str | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = yaml.safe_load((WORKLOADS / f"{name}.in.yaml").read_text())
    if namespace is not None:
        pod["metadata"]["namespace"] = namespace
    return pod


def shipped_with(tmp: Path, extra: str = "", drop: tuple[str, ...] = ()) -> Path:
    """The shipped set in a directory of its own, with `extra` documents and without the
    documents whose names are in `drop`."""
    directory = tmp / "policies"
    directory.mkdir()
    for path in SHIPPED_POLICIES.glob("*.yaml"):
        if path.name.endswith(".test.yaml"):
            continue
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        kept = [d for d in docs if (d.get("metadata") or {}).get("name") not in drop]
        if kept:
            (directory / path.name).write_text(yaml.safe_dump_all(kept, sort_keys=False))
    if extra:
        (directory / "50-extra.yaml").write_text(extra)
    return directory


def sent(
    directory: Path, pod: dict[str, Any], namespace_labels: dict[str, str] | None = None
) -> tuple[Any, dict[str, Any]]:
    compiled = compile_policy_set(load_policy_set(directory))
    namespace = pod["metadata"]["namespace"]
    result = mutate(compiled, copy.deepcopy(pod), namespace, namespace_labels)
    after = kubectl_patch(pod, result.ops) if result.ops else copy.deepcopy(pod)
    validate_pod(after)
    again = mutate(compiled, after, namespace, namespace_labels)
    assert again.ops == [], "the apiserver's second call adds nothing"
    return result, after


# --- tolerations and preferences that select no pool are no choice -----------------------------


def test_a_z2jh_notebook_with_the_charts_tolerations_is_placed_off_spot(tmp_path: Path) -> None:
    """jupyterhub/values.yaml `scheduling.userPods`: tolerations of hub.jupyter.org/dedicated
    and a preference for hub.jupyter.org/node-purpose, whether or not any node has them."""
    pod = workload("jupyterhub-user-server")
    assert {t["key"] for t in pod["spec"]["tolerations"]} >= {
        "hub.jupyter.org/dedicated",
        "hub.jupyter.org_dedicated",
    }
    directory = shipped_with(tmp_path)
    cluster = Cluster.from_policy_set(directory)
    assert cluster.reaches_spot(pod, "jhub"), "as written, it can land on the spot pool default"
    result, after = sent(directory, pod)
    assert result.applied[:2] == ["stateful-on-demand"] or "stateful-on-demand" in result.applied
    assert cluster.pools_for(after, "jhub") == ["ondemand"]
    # Its own fields are untouched.
    assert (
        after["spec"]["tolerations"][: len(pod["spec"]["tolerations"])]
        == pod["spec"]["tolerations"]
    )


def test_tolerations_that_select_a_declared_pool_are_the_pods_own_choice(tmp_path: Path) -> None:
    """With a pool that carries the chart's taint, the same tolerations choose it: the pod is
    left alone."""
    user_pool = """apiVersion: pod-placement-webhook/v1
kind: NodePool
metadata: {name: user}
spec:
  capacityType: on-demand
  nodeLabels: {hub.jupyter.org/node-purpose: user}
  nodeTaints: [{key: hub.jupyter.org/dedicated, value: user, effect: NoSchedule}]
"""
    directory = shipped_with(tmp_path, user_pool)
    result, after = sent(directory, workload("jupyterhub-user-server"))
    assert result.applied == []
    assert Cluster.from_policy_set(directory).pools_for(after, "jhub") == [
        "ondemand",
        "default",
        "user",
    ]


# --- unknown namespace labels never fail toward spot --------------------------------------------

PROD_EXCLUDED = (
    HEADER
    + """metadata: {name: jobs-on-spot-but-prod}
spec:
  order: 5
  match: {workloads: [job], placement: none, extendedResources: false}
  exclude:
    - namespaceSelector: {matchLabels: {env: prod}}
  add:
    pool: job
"""
)


def test_a_policy_excluding_by_namespace_labels_is_skipped_while_they_are_unknown(
    tmp_path: Path,
) -> None:
    directory = shipped_with(tmp_path, PROD_EXCLUDED)
    job = workload("job-pod", "payments")
    known, placed = sent(directory, job, {"env": "prod"})
    assert "jobs-on-spot-but-prod" not in known.applied
    unknown, after = sent(directory, job, None)
    assert unknown.skipped == ["jobs-on-spot-but-prod"]
    assert "jobs-on-spot-but-prod" not in unknown.applied
    assert any("namespace labels unknown" in w for w in unknown.warnings)
    # The shipped batch policy still sends the Job to the job pool; the excluding one guessed
    # nothing.
    assert after == placed


# --- pods bound to a node or a peer ---------------------------------------------------------------


def test_a_backup_agent_bound_to_postgresql_stays_where_postgresql_runs(tmp_path: Path) -> None:
    directory = shipped_with(tmp_path)
    database, placed_db = sent(directory, workload("postgresql-statefulset"))
    assert "stateful-on-demand" in database.applied
    cluster = Cluster.from_policy_set(directory)
    (node,) = [n for n in cluster.feasible(placed_db, "data")]
    cluster.add_pod(placed_db, node)
    agent = backup_agent()
    result, after = sent(directory, agent)
    assert "default-pool" not in result.applied
    assert cluster.feasible(after, "data") == [node]


def backup_agent() -> dict[str, Any]:
    """A backup agent that must run where its PostgreSQL runs."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pg-backup", "namespace": "data", "labels": {"app": "pg-backup"}},
        "spec": {
            "affinity": {
                "podAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {
                                "matchLabels": {"app.kubernetes.io/name": "postgresql"}
                            },
                            "topologyKey": "kubernetes.io/hostname",
                        }
                    ]
                }
            },
            "containers": [{"name": "backup", "image": "example.com/pg-backup:1"}],
        },
    }


# --- the pod as sent, after every policy ---------------------------------------------------------

LATE_TOLERATION = (
    HEADER
    + """metadata: {name: gpu-jobs-to-g1}
spec:
  order: 15
  match: {workloads: [job], requests: [nvidia.com/gpu]}
  add:
    nodeAffinity:
      required: [{key: ng-name, operator: In, values: [g1]}]
---
"""
    + HEADER
    + """metadata: {name: gpu-taint-toleration}
spec:
  order: 95
  match: {requests: [nvidia.com/gpu]}
  add:
    tolerations: [{key: nvidia.com/gpu, operator: Equal, value: "true", effect: NoSchedule}]
"""
)


def gpu_job(namespace: str = "batch") -> dict[str, Any]:
    pod = workload("job-pod", namespace)
    for container in pod["spec"]["containers"]:
        container["resources"]["requests"]["nvidia.com/gpu"] = "1"
        container["resources"].setdefault("limits", {})["nvidia.com/gpu"] = "1"
    return pod


def test_a_requirement_whose_toleration_comes_from_a_later_policy_is_kept(tmp_path: Path) -> None:
    """The pod is judged as sent: with the later toleration, the g1 requirement is runnable."""
    directory = shipped_with(tmp_path, LATE_TOLERATION, drop=("extended-resource-tolerations",))
    result, after = sent(directory, gpu_job())
    assert result.refused == []
    assert not any("placement not added" in w for w in result.warnings)
    assert {"gpu-jobs-to-g1", "gpu-taint-toleration"} <= set(result.applied)
    assert Cluster.from_policy_set(directory).pools_for(after, "batch") == ["g1"]


# --- a set with no pool for a resource ----------------------------------------------------------


def test_a_set_without_a_gpu_pool_is_refused_and_gpu_steps_get_no_placement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = shipped_with(tmp_path, drop=("g1",))
    gpu_policy = directory / "20-batch-spot.yaml"
    docs = [d for d in yaml.safe_load_all(gpu_policy.read_text()) if d]
    for doc in docs:  # the GPU policy sends GPU steps where there is no GPU
        if doc["spec"]["add"].get("pool") == "g1":
            doc["spec"]["add"]["pool"] = "job"
    gpu_policy.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert main(["check", str(directory)]) == 1
    _, err = capsys.readouterr()
    assert any(
        "policy batch-gpu-spot: a GPU" in line
        and "no nvidia.com/gpu" in line
        and "[intent runnable]" in line
        for line in err.splitlines()
    ) or any("no node pool offers nvidia.com/gpu" in line for line in err.splitlines()), err
    step = gpu_job("ml")
    result, after = sent(directory, step)
    assert result.breaches["batch-gpu-spot"].intent == "resources"
    assert "affinity" not in after["spec"]
    args = ["--proof-classes", "0"]
    with running_server(tmp_path, [directory], args) as server, client(server) as http:
        answer = response_of(send(http, pod_review(step, "ml")))
        warning = "(resources): no node pool offers nvidia.com/gpu"
        assert any(warning in w for w in answer["warnings"])
        assert "affinity" not in kubectl_patch(step, patch_of(answer))["spec"]
        _, samples = scrape(server)
        by_intent = "placement_webhook_placement_refused_by_intent_total"
        assert value(samples, by_intent, intent="resources") == 1


# --- Kueue, when a policy makes the pod Kueue's --------------------------------------------------

QUEUE_LABEL = (
    HEADER
    + """metadata: {name: batch-queue}
spec:
  order: 1
  match: {workloads: [job]}
  add:
    labels: {kueue.x-k8s.io/queue-name: batch}
"""
)


def test_a_pod_a_policy_hands_to_kueue_gets_no_placement_in_the_same_call(tmp_path: Path) -> None:
    directory = shipped_with(tmp_path, QUEUE_LABEL)
    job = workload("job-pod")
    result, after = sent(directory, job)
    assert "batch-queue" in result.applied
    assert after["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "batch"
    assert "affinity" not in after["spec"]
    assert after["spec"].get("tolerations") == job["spec"].get("tolerations")


# --- what the judgement cannot mend: the proof refuses it ---------------------------------------


def test_a_set_that_leaves_notebooks_of_a_namespace_unplaced_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """stateful-on-demand leaves out `sandbox`: there the default pool (spot) takes notebooks.
    At admission that placement is taken back, and the notebook can still land on either
    pool: only the set can keep it off spot, so `check` refuses the set."""
    directory = shipped_with(tmp_path)
    keep = directory / "10-keep-off-spot.yaml"
    docs = [d for d in yaml.safe_load_all(keep.read_text()) if d]
    docs[0]["spec"]["match"]["excludeNamespaces"] = ["sandbox"]
    keep.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert main(["check", str(directory)]) == 1
    _, err = capsys.readouterr()
    assert any(
        "policy default-pool:" in line and "in namespace sandbox" in line and "off-spot" in line
        for line in err.splitlines()
    ), err
    result, after = sent(directory, workload("kubeflow-notebook-cpu", "sandbox"))
    assert result.breaches["default-pool"].intent == "off-spot"
    pools = Cluster.from_policy_set(directory).pools_for(after, "sandbox")
    assert "ondemand" in pools, "never made spot-only"


def test_a_class_the_set_keeps_off_spot_and_sends_to_spot_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = shipped_with(tmp_path)
    settings = directory / "00-settings.yaml"
    doc = yaml.safe_load(settings.read_text())
    doc["spec"]["keepOffSpot"] = [{"workloads": ["notebook", "spark"]}]
    settings.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert main(["check", str(directory)]) == 1
    _, err = capsys.readouterr()
    assert any("policy batch-cpu-spot: a CPU Spark" in line and "[intent off-spot]" in line
               for line in err.splitlines()), err  # fmt: skip
    result, after = sent(directory, workload("spark-driver", "spark"))
    assert set(result.refused) == {"batch-cpu-spot", "default-pool"}
    assert "ondemand" in Cluster.from_policy_set(directory).pools_for(after, "spark")


def test_every_shipped_and_example_set_passes_the_whole_proof(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for directory in [SHIPPED_POLICIES, *sorted((SHIPPED_POLICIES / "examples").iterdir())]:
        assert main(["check", str(directory)]) == 0, capsys.readouterr().err
        out, _ = capsys.readouterr()
        assert "placement proven:" in out and "pod classes from" in out


def test_copies_are_not_needed_for_the_shipped_set(tmp_path: Path) -> None:
    """shipped_with copies the set faithfully: the copy compiles to the same policies."""
    copy_dir = shipped_with(tmp_path)
    assert [p.name for p in load_policy_set(copy_dir).policies] == [
        p.name for p in load_policy_set(SHIPPED_POLICIES).policies
    ]
    shutil.rmtree(copy_dir)


def test_the_server_judges_the_pods_the_judgement_cases_send(tmp_path: Path) -> None:
    """Through the real server: the z2jh notebook placed off spot, the backup agent bound to
    PostgreSQL given no node choice, the GPU Job whose toleration comes from a later policy
    kept on g1; each patch applied with kubectl and judged by the model cluster."""
    directory = shipped_with(tmp_path, LATE_TOLERATION)
    cluster = Cluster.from_policy_set(directory)
    notebook = workload("jupyterhub-user-server")
    job = gpu_job()
    agent = backup_agent()
    with running_server(tmp_path, [directory]) as server, client(server) as http:
        for pod, pools in ((notebook, ["ondemand"]), (job, ["g1"])):
            namespace = pod["metadata"]["namespace"]
            answer = response_of(send(http, pod_review(pod, namespace)))
            assert cluster.pools_for(kubectl_patch(pod, patch_of(answer)), namespace) == pools
            assert not any("placement not added" in w for w in answer.get("warnings", []))
        answer = response_of(send(http, pod_review(agent, "data")))
        sent = kubectl_patch(agent, patch_of(answer)) if "patch" in answer else agent
        assert "nodeAffinity" not in sent["spec"]["affinity"]
        assert "tolerations" not in sent["spec"]
