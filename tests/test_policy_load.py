"""Loading policy files: every error is one line naming the file, the document (1-based), the
line and the field path; `check` prints it and exits 1; `schema` validates the shipped files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.pods import SHIPPED_POLICIES
from webhook.errors import PolicyError
from webhook.policy.load import load_policy_set, policy_files
from webhook.tools.cli import main

# Document 1 is valid, so each error below is in document 2, which starts on line 9.
FIRST = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata:
  name: first
spec:
  add:
    labels: {a: b}
---
"""
POLICY_HEAD = """\
apiVersion: pod-placement-webhook/v1
kind: PlacementPolicy
metadata:
  name: spot
spec:
"""

ERRORS = {
    "an unknown field": (
        POLICY_HEAD
        + """\
  add:
    tolerations:
      - key: job
        operator: Exists
        efect: NoSchedule
""",
        "document 2, line 18: spec.add.tolerations[0].efect: unknown field",
    ),
    "an unknown field at the top": (
        POLICY_HEAD + "  add: {labels: {a: b}}\nstatus: {}\n",
        "document 2, line 15: status: unknown field",
    ),
    "a value of the wrong type": (
        POLICY_HEAD + "  order: first\n  add: {labels: {a: b}}\n",
        "document 2, line 14: spec.order: Input should be a valid integer, unable to parse "
        "string as an integer",
    ),
    "a bad selector operator": (
        POLICY_HEAD
        + """\
  match:
    podSelector:
      matchExpressions:
        - {key: tier, operator: Equals, values: [x]}
  add: {labels: {a: b}}
""",
        "document 2, line 17: spec.match.podSelector.matchExpressions[0].operator: Input "
        "should be 'In', 'NotIn', 'Exists' or 'DoesNotExist'",
    ),
    "a bad toleration operator": (
        POLICY_HEAD + "  add:\n    tolerations:\n      - {key: job, operator: Exist}\n",
        "document 2, line 16: spec.add.tolerations[0].operator: Input should be 'Exists' or "
        "'Equal'",
    ),
    "an invalid label key": (
        POLICY_HEAD + '  add:\n    labels:\n      "-bad/key": x\n',
        "document 2, line 16: spec.add.labels.-bad/key: Invalid value: '-bad/key': prefix part a "
        "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters",
    ),
    "an invalid node affinity key": (
        POLICY_HEAD
        + "  add:\n    nodeAffinity:\n      required:\n"
        + "        - {key: Bad Key, operator: Exists}\n",
        "document 2, line 17: spec.add.nodeAffinity.required[0].key: Invalid value: 'Bad Key': "
        "name part must consist of alphanumeric characters, '-', '_' or '.'",
    ),
    "Exists with values": (
        POLICY_HEAD
        + "  add:\n    nodeAffinity:\n      required:\n"
        + "        - {key: a, operator: Exists, values: [x]}\n",
        "document 2, line 17: spec.add.nodeAffinity.required[0].values: Forbidden: may not be "
        "specified when `operator` is 'Exists' or 'DoesNotExist'",
    ),
    "a weight out of range": (
        POLICY_HEAD + "  add:\n    workflowPodAffinity: {labelKeys: [wf], weight: 0}\n",
        "document 2, line 15: spec.add.workflowPodAffinity.weight: Input should be greater than "
        "or equal to 1",
    ),
    "a policy that adds nothing": (
        POLICY_HEAD + "  add: {}\n",
        "document 2, line 14: spec.add: a policy must add something (tolerations, "
        "nodeAffinity, ...)",
    ),
    "a duplicate key": (
        POLICY_HEAD + "  add:\n    labels: {a: b}\n    labels: {c: d}\n",
        "document 2, line 16: spec.add.labels: duplicate key",
    ),
    "a duplicate key in a list item": (
        POLICY_HEAD + "  add:\n    tolerations:\n      - {key: a, key: b, operator: Exists}\n",
        "document 2, line 16: spec.add.tolerations[0].key: duplicate key",
    ),
    "a duplicate policy name": (
        FIRST,
        "document 2, line 12: metadata.name: policy 'first' is already defined in",
    ),
    "an unknown kind": (
        "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicyy\n",
        "document 2, line 10: kind: unknown kind 'PlacementPolicyy': expected one of "
        "PlacementPolicy, PolicySettings",
    ),
    "a document that is not a mapping": (
        "- a\n- b\n",
        "document 2, line 9: a policy document must be a mapping",
    ),
    "invalid YAML": (
        POLICY_HEAD + "  add: {labels: [a}\n",
        "document 2, line 14: invalid YAML: expected ',' or ']', but got '}'",
    ),
    "two PolicySettings documents": (
        "apiVersion: pod-placement-webhook/v1\nkind: PolicySettings\n---\n"
        "apiVersion: pod-placement-webhook/v1\nkind: PolicySettings\n",
        "document 3, line 12: kind: only one PolicySettings document is allowed per set",
    ),
}


def write(tmp_path: Path, text: str, name: str = "policies.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "expected"), list(ERRORS.values()), ids=list(ERRORS))
def test_policy_errors_name_file_document_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, FIRST + text)
    with pytest.raises(PolicyError) as caught:
        load_policy_set(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, {expected}")
    assert "\n" not in message


@pytest.mark.parametrize(("text", "expected"), list(ERRORS.values()), ids=list(ERRORS))
def test_check_prints_the_error_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = write(tmp_path, FIRST + text)
    assert main(["check", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: {path}, {expected}")
    assert err.count("\n") == 1


def test_a_duplicate_policy_name_across_files_names_both(tmp_path: Path) -> None:
    first = write(tmp_path, FIRST, "a.yaml")
    second = write(tmp_path, FIRST, "b.yaml")
    with pytest.raises(PolicyError) as caught:
        load_policy_set(tmp_path)
    assert str(caught.value) == (
        f"{second}, document 1, line 4: metadata.name: policy 'first' is already defined in {first}"
    )


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"kind: \xff\n")
    with pytest.raises(PolicyError, match=r"p\.yaml: not UTF-8 text"):
        load_policy_set(path)


def test_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file or directory"):
        load_policy_set(tmp_path / "nowhere")


def test_check_accepts_the_shipped_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SHIPPED_POLICIES)]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("ok: 8 policies, 5 node pools in 8 files (digest ")


def test_what_a_directory_holds(tmp_path: Path) -> None:
    """Flat, sorted, skipping hidden entries (a ConfigMap mount's ..data), policy tests and
    sub-directories (sets of their own)."""
    for name in ("b.yaml", "a.yml", "c.test.yaml", ".hidden.yaml", "notes.txt"):
        write(tmp_path, FIRST.replace("first", name.split(".")[0] or "x"), name)
    (tmp_path / "..data").mkdir()
    write(tmp_path / "..data", FIRST, "b.yaml")
    (tmp_path / "examples").mkdir()
    write(tmp_path / "examples", FIRST, "e.yaml")
    assert [p.name for p in policy_files(tmp_path)] == ["a.yml", "b.yaml"]


def test_policies_are_sorted_by_order_then_name_and_empty_documents_skipped(
    tmp_path: Path,
) -> None:
    docs = [
        {"name": "late", "order": 50},
        {"name": "b-early", "order": 1},
        {"name": "a-early", "order": 1},
        {"name": "default-order"},
    ]
    texts = []
    for doc in docs:
        spec: dict[str, Any] = {"add": {"labels": {"a": "b"}}}
        if "order" in doc:
            spec["order"] = doc["order"]
        texts.append(
            yaml.safe_dump(
                {
                    "apiVersion": "pod-placement-webhook/v1",
                    "kind": "PlacementPolicy",
                    "metadata": {"name": doc["name"]},
                    "spec": spec,
                }
            )
        )
    write(tmp_path, "---\n" + "---\n---\n".join(texts))
    loaded = load_policy_set(tmp_path)
    assert [p.name for p in loaded.policies] == ["a-early", "b-early", "late", "default-order"]


def test_the_digest_follows_the_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, FIRST)
    before = load_policy_set(path).digest
    assert load_policy_set(path).digest == before
    path.write_text(FIRST.replace("{a: b}", "{a: c}"))
    assert load_policy_set(path).digest != before


def test_check_reports_every_problem_of_a_set_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, FIRST + POLICY_HEAD + "  order: first\n  add: {labels: {a: b}}\n", "a.yaml")
    write(tmp_path, POLICY_HEAD.replace("spot", "second") + "  add: {tolerationz: []}\n", "b.yaml")
    write(tmp_path, FIRST, "c.yaml")
    assert main(["check", str(tmp_path)]) == 1
    _, err = capsys.readouterr()
    assert err.splitlines() == [
        f"error: {tmp_path / 'a.yaml'}, document 2, line 14: spec.order: Input should be a valid "
        "integer, unable to parse string as an integer",
        f"error: {tmp_path / 'b.yaml'}, document 1, line 6: spec.add.tolerationz: unknown field; "
        "did you mean 'tolerations'?",
        f"error: {tmp_path / 'c.yaml'}, document 1, line 4: metadata.name: policy 'first' is "
        f"already defined in {tmp_path / 'a.yaml'}",
    ]


SUGGESTIONS = {
    "a top-level field": ("spec: {ordr: 1, add: {labels: {a: b}}}", "spec.ordr", "'order'"),
    "a field nested in a list": (
        "spec: {add: {tolerations: [{key: a, operater: Exists}]}}",
        "spec.add.tolerations[0].operater",
        "'operator'",
    ),
    "a field under an optional object": (
        "spec: {add: {nodeAffinity: {requird: []}}}",
        "spec.add.nodeAffinity.requird",
        "'required'",
    ),
    "a match clause misspelt": (
        "spec: {match: {podSelectr: {}}, add: {labels: {a: b}}}",
        "spec.match.podSelectr",
        "'podSelector'",
    ),
}


@pytest.mark.parametrize(
    ("spec", "field", "nearest"), list(SUGGESTIONS.values()), ids=list(SUGGESTIONS)
)
def test_an_unknown_field_names_the_nearest_known_one(
    tmp_path: Path, spec: str, field: str, nearest: str
) -> None:
    head = "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\nmetadata: {name: p}\n"
    path = write(tmp_path, head + spec + "\n")
    with pytest.raises(PolicyError) as caught:
        load_policy_set(path)
    assert str(caught.value).endswith(f"{field}: unknown field; did you mean {nearest}?")


def test_a_field_like_no_known_one_gets_no_suggestion(tmp_path: Path) -> None:
    head = "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\nmetadata: {name: p}\n"
    path = write(tmp_path, head + "spec: {add: {labels: {a: b}}, zzzzzz: 1}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy_set(path)
    assert str(caught.value).endswith("spec.zzzzzz: unknown field")


def test_the_digest_is_the_same_wherever_the_files_are(tmp_path: Path) -> None:
    for where in ("ci/checkout/policies", "etc/pod-placement-webhook/policies"):
        (tmp_path / where).mkdir(parents=True)
        for source in sorted(SHIPPED_POLICIES.glob("*.yaml")):
            (tmp_path / where / source.name).write_bytes(source.read_bytes())
    digests = {
        load_policy_set(tmp_path / where).digest
        for where in ("ci/checkout/policies", "etc/pod-placement-webhook/policies")
    }
    assert digests == {load_policy_set(SHIPPED_POLICIES).digest}


# --- the JSON Schema ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    from webhook.policy.schema import policy_json_schema

    found = policy_json_schema()
    jsonschema.Draft202012Validator.check_schema(found)
    return found


def _shipped_documents() -> list[tuple[str, Any]]:
    docs = []
    # Policy files only: the `*.test.yaml` files beside them are policy tests.
    roots = [SHIPPED_POLICIES, *sorted(p for p in (SHIPPED_POLICIES / "examples").iterdir())]
    for path in [f for root in roots if root.is_dir() for f in policy_files(root)]:
        for index, doc in enumerate(yaml.safe_load_all(path.read_text()), start=1):
            if doc is not None:
                docs.append((f"{path.relative_to(SHIPPED_POLICIES)} document {index}", doc))
    return docs


SHIPPED_DOCUMENTS = _shipped_documents()


@pytest.mark.parametrize(("where", "doc"), SHIPPED_DOCUMENTS, ids=[w for w, _ in SHIPPED_DOCUMENTS])
def test_the_schema_validates_every_shipped_policy(
    schema: dict[str, Any], where: str, doc: Any
) -> None:
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_every_shipped_example_set_loads() -> None:
    examples = sorted(p for p in (SHIPPED_POLICIES / "examples").iterdir() if p.is_dir())
    assert [p.name for p in examples] == ["aks", "eks", "gke", "karpenter"]
    for example in examples:
        assert load_policy_set(example).policies


BAD_DOCUMENTS = {
    "an unknown field": {"efect": "NoSchedule"},
    "a bad operator": {"operator": "Exist"},
}


@pytest.mark.parametrize("bad_toleration", list(BAD_DOCUMENTS.values()), ids=list(BAD_DOCUMENTS))
def test_the_schema_rejects_a_bad_policy(schema: dict[str, Any], bad_toleration: Any) -> None:
    doc = {
        "apiVersion": "pod-placement-webhook/v1",
        "kind": "PlacementPolicy",
        "metadata": {"name": "spot"},
        "spec": {"add": {"tolerations": [{"key": "job", **bad_toleration}]}},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(doc)


def test_the_schema_rejects_an_unknown_kind(schema: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(
            {"apiVersion": "pod-placement-webhook/v1", "kind": "Policy", "spec": {}}
        )


def test_schema_command_prints_the_schema(
    capsys: pytest.CaptureFixture[str], schema: dict[str, Any]
) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == schema


@pytest.mark.parametrize(
    "text",
    [FIRST, "---\n" + FIRST, FIRST + "---\n# nothing here\n", FIRST + "...\n"],
    ids=[
        "a trailing separator",
        "a leading separator",
        "a comment-only document",
        "a document end marker",
    ],
)
def test_empty_documents_are_skipped(tmp_path: Path, text: str) -> None:
    assert [p.name for p in load_policy_set(write(tmp_path, text)).policies] == ["first"]
