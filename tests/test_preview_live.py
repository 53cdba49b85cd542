"""`preview` of a live cluster's pods: a dump as `kubectl get pods -A -o json` prints it (every
pod bound, `spec.nodeName` set, status, uid, managedFields) is replayed as the pods were at
creation, and gives the placements the pods before scheduling get; the table says why a pod is
left as it is, which declared pools it can reach before and after, and who moves onto or off
spot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.live_pods import NAMES, dump, golden_pods, live
from tests.pods import gpu, node_pool, owner, plain, pod, policy
from tests.test_preview import table_rows
from webhook.tools.cli import main

Doc = dict[str, Any]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_json(path: Path, document: Doc) -> str:
    """As kubectl writes JSON: four-space indents, keys sorted."""
    path.write_text(json.dumps(document, indent=4, sort_keys=True))
    return str(path)


def as_list(pods: Sequence[Doc]) -> Doc:
    return {"apiVersion": "v1", "kind": "List", "items": list(pods)}


def test_a_live_dump_previews_as_the_pods_before_scheduling(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pods = golden_pods()
    listing = dump(pods)
    assert len(listing["items"]) >= 30
    assert all(item["spec"]["nodeName"] for item in listing["items"])
    live_file = write_json(tmp_path / "live.json", listing)
    before_file = write_json(tmp_path / "before.json", as_list(pods))

    code, out, err = run(capsys, "preview", "-o", "json", live_file)
    assert code == 0, err
    replayed = json.loads(out)["items"]
    code, out, _ = run(capsys, "preview", "-o", "json", before_file)
    assert replayed == json.loads(out)["items"]  # the same pods, placed the same

    _, live_table, _ = run(capsys, "preview", "--wide", live_file)
    _, before_table, _ = run(capsys, "preview", "--wide", before_file)
    live_rows, before_rows = table_rows(live_table)[1:], table_rows(before_table)[1:]
    assert [r[:1] + r[2:] for r in live_rows] == [r[:1] + r[2:] for r in before_rows]
    assert [r[1] for r in live_rows] == [i["metadata"]["name"] for i in listing["items"]]
    assert sum(r[3] != "-" for r in live_rows) >= 25  # placed, not taken as bound already
    assert live_table.splitlines()[-3:] == before_table.splitlines()[-3:]  # the summary


def test_why_a_pod_is_left_as_it_is(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    by_name = dict(zip(NAMES, dump(golden_pods())["items"], strict=True))
    code, out, _ = run(capsys, "preview", write_json(tmp_path / "live.json", as_list([
        by_name["daemonset-pod"], by_name["static-mirror-pod"], by_name["kueue-plain-pod"],
        live(pod(name="chose", namespace="ml", node_selector={"ng-name": "ondemand"}), 0),
        live(pod(name="coredns-x", namespace="kube-system"), 0),
        by_name["job-pod"], by_name["jupyterhub-user-server"],
    ])))  # fmt: skip
    assert code == 0
    assert [row[-1] for row in table_rows(out)[1:]] == [
        "daemonset",
        "mirror pod",
        "kueue",
        "own placement",
        "excluded ns",
        "-",
        # Its chart's tolerations select no declared pool: it chose nothing, and is placed.
        "-",
    ]


def test_a_pod_created_bound_to_its_node_keeps_it() -> None:
    """Its creator's managedFields entry lists spec.nodeName: the pod bypassed the scheduler,
    and the webhook leaves it alone; a pod the scheduler bound loses it."""
    from webhook.tools.preview.replay import as_created

    bound = live(pod(name="pinned", namespace="ops"), 0, node="n1")
    bound["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:nodeName"] = {}
    scheduled = live(pod(name="scheduled", namespace="ops"), 1, node="n1")
    assert as_created(bound)["spec"]["nodeName"] == "n1"
    assert "nodeName" not in as_created(scheduled)["spec"]
    replayed = as_created(scheduled)
    assert not {"uid", "resourceVersion", "creationTimestamp", "managedFields"} & set(
        replayed["metadata"]
    )
    assert "status" not in replayed
    # What admission plugins set before the webhook stays: the default tolerations.
    golden = golden_pods()[NAMES.index("job-pod")]
    assert as_created(live(golden, 2))["spec"]["tolerations"] == golden["spec"]["tolerations"]


POOLS = [
    node_pool("cpu", {"pool": "cpu"}),
    node_pool("gpu", {"pool": "gpu"}, extended=["nvidia.com/gpu"]),
    node_pool("spot", {"pool": "spot"}, capacity="spot"),
]


def preview_with(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, documents: list[Doc], pods: list[Doc]
) -> tuple[list[list[str]], str]:
    from tests.pods import compiled

    compiled(*documents)  # a valid set
    import yaml

    (tmp_path / "set.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    pods_file = write_json(tmp_path / "pods.json", as_list([live(p, i) for i, p in
                                                             enumerate(pods)]))  # fmt: skip
    code, out, err = run(capsys, "preview", "--wide", "--policies", str(tmp_path / "set.yaml"),
                         pods_file)  # fmt: skip
    assert code == 0, err
    return table_rows(out)[1:], out


def test_no_match_audit_and_the_guard(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    documents = [
        *POOLS,
        policy("ml-to-spot", {"pool": "spot"}, match={"namespaces": ["ml"]}, mode="audit"),
        policy("gpu-to-cpu", {"pool": "cpu"}, match={"namespaces": ["gpu"]}),
    ]
    rows, _ = preview_with(capsys, tmp_path, documents, [
        pod(name="web", namespace="shop"), pod(name="step", namespace="ml"),
        pod(gpu(), name="train", namespace="gpu"),
    ])  # fmt: skip
    assert [(r[3], r[4], r[5], r[6]) for r in rows] == [
        ("-", "all 3", "all 3", "no match"),
        ("ml-to-spot (audit)", "all 3", "all 3", "audit"),
        ("-", "gpu", "gpu", "no pool fits"),
    ]


def test_the_summary_counts_pods_moving_onto_and_off_spot(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    documents = [
        *POOLS,
        policy("batch-to-spot", {"pool": "spot"}, match={"namespaces": ["batch"]}),
        policy("web-on-demand", {"pool": "cpu"}, match={"namespaces": ["shop"]}),
    ]
    job = [owner("Job", "batch/v1", "nightly")]
    rows, out = preview_with(capsys, tmp_path, documents, [
        pod(name="etl", namespace="batch", owners=job), pod(name="web", namespace="shop"),
        pod(name="other", namespace="misc"),
    ])  # fmt: skip
    assert [(r[4], r[5]) for r in rows] == [("all 3", "spot"), ("all 3", "cpu"), ("all 3", "all 3")]
    assert "3 pods: 2 changed; 2 reach other pools (1 onto spot, 1 off spot)" in out


def test_namespace_labels_from_namespace_objects(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--namespaces` gives each namespace its labels, for namespaceSelector clauses."""
    import yaml

    documents = [
        *POOLS,
        policy("team-spot", {"pool": "spot"},
               match={"namespaceSelector": {"matchLabels": {"tier": "batch"}}}),
    ]  # fmt: skip
    (tmp_path / "set.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
    namespaces = as_list([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}
        for n, labels in (("etl", {"tier": "batch"}), ("web", {"tier": "prod"}))
    ])  # fmt: skip
    pods = as_list([live(pod(name=n, namespace=n), i) for i, n in enumerate(["etl", "web"])])
    code, out, _ = run(capsys, "preview", "--policies", str(tmp_path / "set.yaml"),
                       "--namespaces", write_json(tmp_path / "ns.json", namespaces),
                       write_json(tmp_path / "pods.json", pods))  # fmt: skip
    assert code == 0
    assert [r[2] for r in table_rows(out)[1:]] == ["team-spot", "-"]


def test_the_replicas_of_one_pod_get_one_judgement_each_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Pods that differ only in what replay drops and in their token volume's random name."""
    golden = golden_pods()[NAMES.index("job-pod")]
    replicas = [live(golden, i) for i in range(5)]
    for i, replica in enumerate(replicas):
        volume = f"kube-api-access-{'abcde'[i]}x9q2"
        replica["spec"]["volumes"][0]["name"] = volume
        replica["spec"]["containers"][0]["volumeMounts"][0]["name"] = volume
    _, out, _ = run(capsys, "preview", write_json(tmp_path / "p.json", as_list(replicas)))
    rows = table_rows(out)[1:]
    assert [r[1] for r in rows] == [r["metadata"]["name"] for r in replicas]
    assert len({tuple(r[2:]) for r in rows}) == 1
    _, out, _ = run(capsys, "preview", "-o", "json", str(tmp_path / "p.json"))
    volumes = [p["spec"]["volumes"][0]["name"] for p in json.loads(out)["items"]]
    assert volumes == [r["spec"]["volumes"][0]["name"] for r in plain(replicas)]
