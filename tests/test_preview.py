"""`placement-webhook preview`: a cluster's pods (`kubectl get pods -A -o yaml`) through the
shipped policies as a table, or as the mutated pods, which the Kubernetes schema accepts."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube import validate_pod
from tests.pods import (
    ARGO_LABELS,
    DAEMONSET,
    JOB,
    NODE,
    PROVENANCE,
    REPLICASET,
    WORKFLOW,
    cpu,
    gpu,
    mutated,
    pod,
)
from webhook.engine import CompiledPolicySet
from webhook.kube.workloads import workload_of
from webhook.tools.cli import main
from webhook.tools.preview.placement import render_placement

CASES = Path(__file__).parent / "cases"
NAMES = sorted(p.name.removesuffix(".in.yaml") for p in CASES.glob("*.in.yaml"))
WIDE = ["NAMESPACE", "POD", "WORKLOAD", "POLICIES", "POOLS BEFORE", "POOLS AFTER",
        "WHY UNCHANGED", "PLACEMENT BEFORE", "PLACEMENT AFTER"]  # fmt: skip
COLUMNS = ["NAMESPACE", "POD", "POLICIES", "BEFORE", "AFTER", "WHY UNCHANGED"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> list[list[str]]:
    """The table's rows as cells (cells never hold two spaces in a row), header first; the
    summary's lines after it."""
    lines = out.splitlines()
    summary = next(i for i, line in enumerate(lines) if re.match(r"\d+ pods: ", line))
    assert lines[summary].startswith(f"{summary - 1} pods: ")
    assert all(line.startswith(("changed by: ", "  ")) for line in lines[summary + 1 :])
    return [re.split(r" {2,}", line) for line in lines[:summary]]


def fixture_pods() -> list[dict[str, Any]]:
    """Pods of tests/pods.py's shapes that the golden cases do not cover."""
    return [
        pod(cpu(), name="bare", namespace="team-a"),
        pod(gpu(), name="job-gpu", namespace="batch", owners=[JOB]),
        pod(cpu(), name="web", namespace="shop", owners=[REPLICASET]),
        pod(cpu(), name="exporter", namespace="monitoring", owners=[DAEMONSET]),
        pod(cpu(), name="static", namespace="kube-system", owners=[NODE]),
        pod(cpu(), name="step", namespace="ml", labels=ARGO_LABELS, owners=[WORKFLOW]),
    ]


def cluster(size: int, shipped: CompiledPolicySet) -> tuple[dict[str, Any], list[list[str]]]:
    """A `kind: List` of `size` pods of mixed workloads, and the table row each must get."""
    sources = [yaml.safe_load((CASES / f"{n}.in.yaml").read_text()) for n in NAMES]
    sources += fixture_pods()
    # What the set does to a pod does not depend on its name: one mutation per source.
    outcomes = []
    for source in sources:
        _, after = mutated(shipped, source, source["metadata"].get("namespace", "default"))
        applied = (after["metadata"].get("annotations") or {}).get(PROVENANCE, "-")
        outcomes.append([workload_of(source), applied, render_placement(source)])
        outcomes[-1].append(render_placement(after))
    items, rows = [], []
    for i in range(size):
        item = copy.deepcopy(sources[i % len(sources)])
        meta = item["metadata"]
        base = meta.pop("name", None) or meta.pop("generateName").rstrip("-")
        meta["name"] = f"{base}-{i}"
        rows.append([meta.get("namespace", "default"), meta["name"], *outcomes[i % len(sources)]])
        items.append(item)
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {}}, rows


def test_a_list_of_200_pods_gets_a_row_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, shipped_policies: CompiledPolicySet
):
    listing, expected = cluster(200, shipped_policies)
    (tmp_path / "pods.yaml").write_text(yaml.safe_dump(listing))
    code, out, err = run(capsys, "preview", "--wide", str(tmp_path / "pods.yaml"))
    assert (code, err) == (0, "")
    rows = table_rows(out)
    assert rows[0] == WIDE
    assert [[*r[:4], *r[7:]] for r in rows[1:]] == expected
    workloads = {row[2] for row in rows[1:]}
    assert {
        "argo-workflow",
        "kubeflow-pipeline",
        "job",
        "notebook",
        "daemonset",
        "bare",
    } <= workloads
    assert "200 pods: " in out
    code, out, _ = run(capsys, "preview", str(tmp_path / "pods.yaml"))
    assert max(len(line) for line in out.splitlines()) <= 120  # the default table fits


def test_the_table_shows_placement_before_and_after(capsys: pytest.CaptureFixture[str]):
    code, out, _ = run(
        capsys,
        "preview",
        "--wide",
        str(CASES / "cpu-job.in.yaml"),
        str(CASES / "own-node-selector.in.yaml"),
    )
    assert code == 0
    rows = table_rows(out)
    assert rows[1][3:] == [
        "batch-cpu-spot",
        "ondemand,default",
        "job",
        "-",
        "-",
        "ng-name In [job]; tol job:NoSchedule",
    ]
    own = rows[2]
    assert own[4] == own[5] and own[7] == own[8] != "-"  # the pod chose its pool: left there
    assert own[6] == "own placement"


def test_json_from_kubectl_with_a_pod_list_whose_items_have_no_kind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The API's own PodList leaves `kind` out of its items; `-` reads standard input."""
    item = yaml.safe_load((CASES / "cpu-job.in.yaml").read_text())
    del item["kind"], item["apiVersion"]
    listing = {"apiVersion": "v1", "kind": "PodList", "items": [item]}
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(json.dumps(listing)))
    code, out, _ = run(capsys, "preview", "-")
    assert code == 0
    assert table_rows(out)[1][:3] == ["data", "nightly-etl-", "batch-cpu-spot"]


def test_output_yaml_is_a_list_of_valid_pods(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, shipped_policies: CompiledPolicySet
):
    listing, expected = cluster(40, shipped_policies)
    (tmp_path / "pods.yaml").write_text(yaml.safe_dump(listing))
    workloads = Path(__file__).parent / "workloads"
    code, out, _ = run(capsys, "preview", "-o", "yaml", str(tmp_path / "pods.yaml"), str(workloads))
    assert code == 0
    pods = yaml.safe_load(out)
    assert (pods["apiVersion"], pods["kind"]) == ("v1", "List")
    assert len(pods["items"]) == 40 + len(list(workloads.rglob("*.yaml")))
    for item in pods["items"]:
        validate_pod(item)
    assert [p["metadata"]["name"] for p in pods["items"][:40]] == [row[1] for row in expected]


def test_output_json_equals_output_yaml(capsys: pytest.CaptureFixture[str]):
    workloads = str(Path(__file__).parent / "workloads")
    _, as_yaml, _ = run(capsys, "preview", "-o", "yaml", workloads)
    _, as_json, _ = run(capsys, "preview", "-o", "json", workloads)
    scrub = re.compile(r"nightly-\d+")  # the CronJob's Job is named for the minute it runs
    assert scrub.sub("", json.dumps(yaml.safe_load(as_yaml))) == scrub.sub(
        "", json.dumps(json.loads(as_json))
    )


def test_objects_no_pod_comes_from_are_skipped_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    (tmp_path / "mixed.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: empty}\nspec: {}\n---\n"
        + (CASES / "bare-pod.in.yaml").read_text()
    )
    code, out, err = run(capsys, "preview", str(tmp_path / "mixed.yaml"))
    assert code == 0
    assert len(table_rows(out)) == 2
    assert "; skipped: 2" in out
    assert err.splitlines() == [
        f"skipped: {tmp_path / 'mixed.yaml'}, document 1: kind 'Service' has no pod template "
        "this preview reads (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob)",
        f"skipped: {tmp_path / 'mixed.yaml'}, document 2: Deployment/empty: no "
        "spec.template.spec to build a pod from",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Pod\n---\nkind: [Pod\n", "document 2, line 4: invalid YAML: "),
        ("kind: Pod\n---\n- a list\n", "document 2: not a Kubernetes object"),
        ("kind: List\nitems: [{kind: Pod}, 3]\n", "document 1, item 2: not a Kubernetes object"),
    ],
    ids=["bad yaml", "not a mapping", "bad list item"],
)
def test_a_malformed_document_is_one_error_line_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
):
    (tmp_path / "bad.yaml").write_text(text)
    code, out, err = run(capsys, "preview", str(tmp_path / "bad.yaml"))
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: {tmp_path / 'bad.yaml'}, {message}")


def test_mutate_still_takes_one_pod(capsys: pytest.CaptureFixture[str]):
    code, out, _ = run(capsys, "mutate", str(CASES / "cpu-job.in.yaml"))
    assert code == 0
    assert yaml.safe_load(out) == yaml.safe_load((CASES / "cpu-job.out.yaml").read_text())
