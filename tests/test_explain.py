"""`mutate --explain`: per policy, matched or not and which clause failed, what it added (or would
add, in audit mode), then a unified diff of the pod, colored on a terminal only."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.scraping import gpu_step, plain_pod
from webhook.engine import compile_policy_set, mutate
from webhook.policy.load import parse_policy_set
from webhook.tools.explain import render_explain

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "placement-webhook"


def one_policy(match: str = "{}", exclude: str = "[]", mode: str = "enforce") -> Any:
    text = f"""\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {{name: under-test}}
spec:
  mode: {mode}
  match: {match}
  exclude: {exclude}
  add:
    labels: {{placed: "yes"}}
"""
    return compile_policy_set(parse_policy_set([("p.yaml", text.encode())]))


def with_node_selector(pod: dict[str, Any]) -> dict[str, Any]:
    pod["spec"]["nodeSelector"] = {"pool": "a"}
    return pod


def job_pod() -> dict[str, Any]:
    pod = plain_pod("p", "shop")
    pod["metadata"]["ownerReferences"] = [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u", "controller": True}
    ]
    return pod


# (id, match, exclude, pod, namespace labels, the clause --explain names)
CLAUSES = [
    ("namespace not listed", "{namespaces: [ml]}", "[]", plain_pod("p", "shop"), None,
     "match.namespaces"),
    ("namespace excluded", "{excludeNamespaces: [sh*]}", "[]", plain_pod("p", "shop"), None,
     "match.excludeNamespaces"),
    ("pod label missing", "{podSelector: {matchLabels: {team: ml}}}", "[]",
     plain_pod("p", "shop"), None, "match.podSelector"),
    ("annotation missing", "{annotationSelector: {matchExpressions: [{key: a, operator: Exists}]}}",
     "[]", plain_pod("p", "shop"), None, "match.annotationSelector"),
    ("owner kind differs", "{ownerKinds: [StatefulSet]}", "[]", job_pod(), None,
     "match.ownerKinds"),
    ("workload differs", "{workloads: [notebook]}", "[]", job_pod(), None, "match.workloads"),
    ("resource not requested", "{requests: [nvidia.com/gpu]}", "[]", plain_pod("p", "shop"),
     None, "match.requests"),
    ("no extended resource", "{extendedResources: true}", "[]", plain_pod("p", "shop"), None,
     "match.extendedResources"),
    ("an extended resource", "{extendedResources: false}", "[]", gpu_step(namespace="shop"),
     None, "match.extendedResources"),
    ("own placement wanted", "{placement: own}", "[]", plain_pod("p", "shop"), None,
     "match.placement"),
    ("no placement wanted", "{placement: none}", "[]", with_node_selector(plain_pod("p", "shop")),
     None, "match.placement"),
    ("namespace labels unknown", "{namespaceSelector: {matchLabels: {team: ml}}}", "[]",
     plain_pod("p", "shop"), None, "match.namespaceSelector"),
    ("namespace label differs", "{namespaceSelector: {matchLabels: {team: ml}}}", "[]",
     plain_pod("p", "shop"), {"team": "web"}, "match.namespaceSelector"),
    ("excluded", "{}", "[{namespaces: [ml]}, {namespaces: [shop]}]", plain_pod("p", "shop"), None,
     "exclude[1]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("match", "exclude", "pod", "labels", "clause"), [c[1:] for c in CLAUSES],
    ids=[c[0] for c in CLAUSES],
)  # fmt: skip
def test_explain_names_the_clause_that_failed(
    match: str, exclude: str, pod: dict[str, Any], labels: dict[str, str] | None, clause: str
):
    result = mutate(one_policy(match, exclude), pod, "shop", labels, explain=True)
    (outcome,) = result.outcomes
    assert not outcome.matched
    assert outcome.reason is not None
    assert outcome.clause == clause
    text = render_explain(pod, result, namespace="shop", namespace_labels=labels)
    assert f"- under-test: not matched: {outcome.reason}\n    clause: {clause}\n" in text


def test_explain_shows_what_each_policy_added_and_the_pod_diff():
    pod = gpu_step()
    compiled = compile_policy_set(
        parse_policy_set(
            (str(p), p.read_bytes()) for p in sorted((REPO / "policies").glob("[0-9]*-*.yaml"))
            if not p.name.endswith(".test.yaml")
        )
    )  # fmt: skip
    result = mutate(compiled, pod, "ml", {"team": "ml"}, explain=True)
    text = render_explain(pod, result, namespace="ml", namespace_labels={"team": "ml"})
    lines = text.splitlines()
    assert lines[0] == "namespace ml: labels team=ml"
    assert "+ batch-gpu-spot: matched, added nodeAffinity.required" in lines
    at = lines.index("+ batch-gpu-spot: matched, added nodeAffinity.required")
    assert yaml.safe_load("\n".join(lines[at + 1 : at + 10])) == {
        "nodeAffinity.required": [
            {
                "key": "k8s.amazonaws.com/accelerator",
                "operator": "In",
                "values": ["nvidia-tesla-v100"],
            },
            {"key": "ng-name", "operator": "In", "values": ["g1"]},
        ]
    }
    assert "- default-pool: not matched: requests extended resources ['nvidia.com/gpu']" in lines
    diff = lines[lines.index("--- pod (before)") :]
    assert diff[1] == "+++ pod (after)"
    assert "+  tolerations:" in diff
    assert "+      value: '1'" in diff  # ndots
    assert not any(line.startswith("-  ") for line in diff), "the webhook only adds"
    assert "\033[" not in text


def test_explain_notes_why_placement_was_not_added():
    pod = plain_pod("p", "kube-system")
    compiled = compile_policy_set(parse_policy_set([("p.yaml", b"""\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: pool}
spec:
  add:
    nodeAffinity: {required: [{key: pool, operator: In, values: [a]}]}
""")]))  # fmt: skip
    result = mutate(compiled, pod, "kube-system", explain=True)
    text = render_explain(pod, result)
    assert "+ pool: matched, added nothing (already present)" in text
    assert "    note: namespace 'kube-system' is excluded from placement" in text
    assert "(pod unchanged)" in text


def test_unknown_namespace_labels_say_how_to_give_them():
    pod = plain_pod("p", "shop")
    result = mutate(one_policy(), pod, "shop", None, explain=True)
    first = render_explain(pod, result, namespace="shop").splitlines()[0]
    assert first == (
        "namespace shop: labels unknown, namespaceSelector clauses do not match "
        "(give --namespace-labels k=v,...)"
    )


def test_audit_policy_is_marked_and_would_add():
    pod = plain_pod("p", "shop")
    result = mutate(one_policy(mode="audit"), pod, "shop", explain=True)
    text = render_explain(pod, result)
    assert "+ under-test (audit): matched, would add labels\n" in text
    assert "(pod unchanged)" in text
    assert "! warning: policy under-test (audit) would add: labels" in text


def cli_output(pod_file: Path, *args: str, tty: bool) -> str:
    """stdout of `placement-webhook mutate --explain`, on a real terminal or a pipe."""
    command = [str(BIN), "mutate", str(pod_file), "--explain", *args]
    if not tty:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(command, stdout=follower, stderr=subprocess.DEVNULL, check=True)
        assert done.returncode == 0
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    return b"".join(chunks).decode()


def test_diff_is_colored_on_a_terminal_and_plain_otherwise(tmp_path: Path):
    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(yaml.safe_dump(gpu_step()))
    on_terminal = cli_output(pod_file, tty=True)
    assert "\033[32m+  tolerations:" in on_terminal
    assert "\033[31m--- pod (before)" in on_terminal
    piped = cli_output(pod_file, tty=False)
    assert "\033[" not in piped and "+  tolerations:" in piped
    assert "\033[" not in cli_output(pod_file, "--color", "never", tty=True)
    assert "\033[32m+" in cli_output(pod_file, "--color", "always", tty=False)


def explain_cli(
    tmp_path: Path, policies: str, settings: str = ""
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / "p.yaml").write_text(policies)
    if settings:
        (tmp_path / "policies" / "00-settings.yaml").write_text(settings)
    pod = tmp_path / "pod.yaml"
    pod.write_text(yaml.safe_dump(plain_pod(namespace="ml")))
    return subprocess.run(
        [str(BIN), "mutate", str(pod), "--policies", str(tmp_path / "policies"), "--explain",
         "--color", "never"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip


LABEL_POLICY = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: team}
spec:
  EXCLUDE
  add:
    labels: {team: ml}
"""


def test_no_namespace_labels_warning_when_no_policy_reads_them(tmp_path: Path) -> None:
    done = explain_cli(tmp_path, LABEL_POLICY.replace("EXCLUDE", "exclude: []"))
    assert done.stdout.splitlines()[0] == "namespace ml"
    assert "labels unknown" not in done.stdout


def test_the_namespace_labels_warning_when_an_exclude_reads_them(tmp_path: Path) -> None:
    exclude = "exclude: [{namespaceSelector: {matchLabels: {tier: system}}}]"
    done = explain_cli(tmp_path, LABEL_POLICY.replace("EXCLUDE", exclude))
    assert done.stdout.splitlines()[0].startswith("namespace ml: labels unknown")


def test_explain_says_when_the_whole_set_is_in_audit_mode(tmp_path: Path) -> None:
    settings = "apiVersion: pod-placement-webhook/v1\nkind: PolicySettings\nspec: {mode: audit}\n"
    done = explain_cli(tmp_path, LABEL_POLICY.replace("EXCLUDE", "exclude: []"), settings)
    first = done.stdout.splitlines()[0]
    assert first.startswith("the whole set is in audit mode (PolicySettings mode: audit)")
    assert "+ team: matched, added labels" in done.stdout, "what enforce will add"
    plain = subprocess.run(
        [str(BIN), "mutate", str(tmp_path / "pod.yaml"), "--policies", str(tmp_path / "policies")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "note: the whole set is in audit mode" in plain.stderr
