"""Every error of a policy file, each with its path kept as data until it is printed, as
apimachinery's `field.ErrorList` does: a value with three faults is three lines from `check`,
each at its own field and line; a misspelt name says which one was meant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from webhook.errors import Key, PolicyError, Problem, dotted
from webhook.policy import load_policy_set

BIN = Path(sys.executable).parent / "placement-webhook"

THREE_FAULTS = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata: {name: spot}
spec:
  add:
    tolerations:
      - key: "spot key"
        operator: Exists
        value: "true"
        effect: NoSchedule
        tolerationSeconds: 30
"""


def problems(tmp_path: Path, text: str) -> tuple[Problem, ...]:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy_set(path)
    return caught.value.problems


def test_a_value_with_three_faults_gets_three_lines_from_check(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(THREE_FAULTS)
    done = subprocess.run([str(BIN), "check", str(path)], capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    where = f"error: {path}, document 1, line"
    assert lines == [
        f"{where} 7: spec.add.tolerations[0].key: Invalid value: 'spot key': name part must "
        "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName' or 'my.name' or '123-abc', regex used for "
        "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        f"{where} 10: spec.add.tolerations[0].effect: Invalid value: 'NoSchedule': effect must "
        "be 'NoExecute' when `tolerationSeconds` is set",
        f"{where} 8: spec.add.tolerations[0].operator: Invalid value: 'true': value must be "
        "empty when `operator` is 'Exists'",
    ]


def test_each_problem_keeps_its_path_as_data(tmp_path: Path) -> None:
    found = problems(tmp_path, THREE_FAULTS)
    assert [p.path for p in found] == [
        ("spec", "add", "tolerations", 0, "key"),
        ("spec", "add", "tolerations", 0, "effect"),
        ("spec", "add", "tolerations", 0, "operator"),
    ]
    assert [p.field for p in found] == [dotted(p.path) for p in found]


def test_every_label_and_annotation_fault_is_reported(tmp_path: Path) -> None:
    text = THREE_FAULTS.split("    tolerations:")[0] + (
        '    labels: {"a b": "c d", ok: "-bad-"}\n'
        "    annotations: {example.com/fine: x, bad key: y}\n"
    )
    found = problems(tmp_path, text)
    assert [(p.path, p.message.split(":")[0]) for p in found] == [
        (("spec", "add", "annotations", "bad key"), "Invalid value"),
        (("spec", "add", "labels", "a b"), "Invalid value"),
        (("spec", "add", "labels", "a b"), "Invalid value"),
        (("spec", "add", "labels", "ok"), "Invalid value"),
    ]


def test_a_fault_two_rules_find_alike_is_reported_once(tmp_path: Path) -> None:
    """The apiserver's rule and the scheduler's both check that a node selector value is a
    label value, in the same words: one line. Where they word it differently (a Gt with two
    values), each says its own."""
    text = THREE_FAULTS.split("    tolerations:")[0] + (
        "    nodeAffinity:\n      required:\n        - {key: k, operator: In, values: ['a b']}\n"
        "        - {key: k, operator: Gt, values: ['2', '3']}\n"
    )
    found = problems(tmp_path, text)
    required = ("spec", "add", "nodeAffinity", "required")
    assert [p.path for p in found] == [
        (*required, 0, "values", 0),
        (*required, 1, "values"),
        (*required, 1, "values"),
    ]
    assert found[1].message.startswith("Required value: must be specified single value")
    assert found[2].message.endswith("for 'Gt', 'Lt' operators, exactly one value is required")


def test_an_unknown_workload_name_says_which_one_was_meant(tmp_path: Path) -> None:
    text = THREE_FAULTS.replace("spec:\n", "spec:\n  match: {workloads: [argo-workfow]}\n", 1)
    text = text.split("    tolerations:")[0] + "    labels: {a: b}\n"
    (problem,) = problems(tmp_path, text)
    assert problem.path == ("spec", "match", "workloads", 0)
    assert problem.message.endswith("; did you mean 'argo-workflow'?")


def test_an_operator_out_of_its_list_says_which_one_was_meant(tmp_path: Path) -> None:
    text = THREE_FAULTS.replace("operator: Exists", "operator: Exist")
    messages = [p.message for p in problems(tmp_path, text)]
    assert any(m.endswith("did you mean 'Exists'?") for m in messages)


def test_a_yaml_fault_keeps_its_path_as_data(tmp_path: Path) -> None:
    text = THREE_FAULTS.split("    tolerations:")[0] + "    labels:\n      a: b\n      a: c\n"
    (problem,) = problems(tmp_path, text)
    assert (problem.path, problem.line, problem.message) == (
        ("spec", "add", "labels", "a"),
        8,
        "duplicate key",
    )


def test_a_path_is_printed_as_apimachinery_prints_it() -> None:
    assert dotted(("spec", "tolerations", 0, "key")) == "spec.tolerations[0].key"
    assert dotted(("metadata", "annotations", Key("a/b"))) == "metadata.annotations[a/b]"
    assert str(Problem("f.yaml", 2, 7, (), "message")) == "f.yaml, document 2, line 7: message"
