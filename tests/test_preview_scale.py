"""The benchmark's live-cluster dump (bench/preview_scale.py, `make bench` section 5) is what
`kubectl get pods -A -o json` prints: a List of distinct, bound pods, which `preview` reads.
No time is asserted: `make bench` reports it."""

from __future__ import annotations

import json
from pathlib import Path

from bench.preview_scale import PreviewRow, append_section, run_preview, write_dump


def test_the_dump_is_a_kubectl_list_of_distinct_bound_pods(tmp_path: Path) -> None:
    dump = tmp_path / "pods.json"
    write_dump(dump, 100)
    text = dump.read_text()
    assert text.startswith('{\n    "apiVersion": "v1",\n    "items": [\n        {\n')
    listing = json.loads(text)
    items = listing["items"]
    assert (listing["kind"], len(items)) == ("List", 100)
    assert all(p["kind"] == "Pod" and p["spec"]["nodeName"] and p["status"] for p in items)
    assert len({p["metadata"]["name"] for p in items}) == 100
    assert len({p["metadata"]["uid"] for p in items}) == 100
    tokens = {v["name"] for p in items for v in p["spec"].get("volumes", [])
              if v["name"].startswith("kube-api-access-")}  # fmt: skip
    assert len(tokens) > 50  # each pod its own token volume, as the ServiceAccount plugin names it
    row = run_preview(dump, 100)
    assert row.exit_code == 0 and row.pods == 100 and row.peak_mib > 0 and row.cpu > 0


def test_the_section_reports_each_size_and_judges_the_100000_pod_target(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    results.write_text("# Benchmark\n")
    append_section(results, [PreviewRow(10_000, 118, 9.5, 2.9, 103, 0, 6.2),
                             PreviewRow(100_000, 1177, 41.0, 25.2, 199, 0, 6.5)])  # fmt: skip
    text = results.read_text()
    assert "## 5. Preview of a live cluster's dump" in text
    assert "| 10,000 | 118 | 9.5 | 2.9 | 103 | 6.2 | 0 | - |" in text
    assert (
        "| 100,000 | 1177 | 41.0 | 25.2 | 199 | 6.5 | 0 | under 30 s and 1 GiB: missed in wall "
        "time, met in CPU time |"
    ) in text
