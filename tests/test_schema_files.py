"""Editor support and docs cannot drift from the code: the committed JSON Schemas equal what the
CLI prints, every shipped policy and test file points its editor at the right one, every file
validates against it, and the reference docs mention every field."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "placement-webhook"
POLICY_SCHEMA = REPO / "schema" / "policy.schema.json"
TEST_SCHEMA = REPO / "schema" / "policy-test.schema.json"
POLICY_DOCS = REPO / "docs" / "policies.md"
TEST_DOCS = REPO / "docs" / "policy-tests.md"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")

SHIPPED_FILES = sorted(
    p
    for folder in (REPO / "policies", REPO / "policies" / "examples")
    for p in folder.rglob("*")
    if p.suffix in (".yaml", ".yml") and p.is_file()
)


def cli(*args: str) -> str:
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout


def is_test_file(path: Path) -> bool:
    return path.name.endswith((".test.yaml", ".test.yml"))


@pytest.mark.parametrize(
    ("committed", "command"),
    [(POLICY_SCHEMA, ["schema"]), (TEST_SCHEMA, ["test", "--schema"])],
    ids=["policy", "policy test"],
)
def test_committed_schema_is_the_generated_one(committed: Path, command: list[str]):
    assert committed.read_text() == cli(*command), (
        f"{committed.relative_to(REPO)} is stale: run "
        f"`placement-webhook {' '.join(command)} > {committed.relative_to(REPO)}`"
    )


def test_there_are_shipped_files_to_check():
    assert any(p.parent.name == "policies" for p in SHIPPED_FILES)
    assert any("examples" in p.parts for p in SHIPPED_FILES)
    assert any(is_test_file(p) for p in SHIPPED_FILES)


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_modeline_resolves_to_the_right_schema(path: Path):
    first = path.read_text().splitlines()[0]
    found = MODELINE.match(first)
    assert found, f"{path.relative_to(REPO)}: line 1 must be the yaml-language-server modeline"
    target = (path.parent / found.group(1)).resolve()
    assert target == (TEST_SCHEMA if is_test_file(path) else POLICY_SCHEMA)


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_file_validates_against_its_schema(path: Path):
    """What an editor shows must agree with what the loader accepts."""
    schema = json.loads((TEST_SCHEMA if is_test_file(path) else POLICY_SCHEMA).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for document in yaml.safe_load_all(path.read_text()):
        if document is not None:
            validator.validate(document)


def test_schema_rejects_what_the_loader_rejects():
    validator = jsonschema.Draft202012Validator(json.loads(POLICY_SCHEMA.read_text()))
    policy: dict[str, Any] = {
        "apiVersion": "pod-placement-webhook/v1",
        "kind": "PlacementPolicy",
        "metadata": {"name": "p"},
        "spec": {"add": {"labels": {"a": "b"}}, "match": {}},
    }
    assert validator.is_valid(policy)
    policy["spec"]["mach"] = policy["spec"].pop("match")  # a typo: unknown fields are errors
    assert not validator.is_valid(policy)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def schema_words(schema: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Every property name, and every string an enum or const allows."""
    fields: set[str] = set()
    values: set[str] = set()
    for node in _walk(schema):
        properties = node.get("properties")
        if isinstance(properties, dict):
            fields |= set(properties)
        values |= {v for v in node.get("enum", ()) if isinstance(v, str) and v}
        if isinstance(node.get("const"), str):
            values.add(node["const"])
    return fields, values


def code_text(markdown: str) -> str:
    """Inline code spans and fenced blocks: where a field is *named*, not merely a word."""
    fenced = re.findall(r"```.*?```", markdown, flags=re.DOTALL)
    rest = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    return "\n".join(fenced + re.findall(r"`[^`\n]+`", rest))


def unmentioned(words: set[str], code: str) -> list[str]:
    return sorted(w for w in words if not re.search(rf"(?<![\w/-]){re.escape(w)}(?![\w-])", code))


@pytest.mark.parametrize(
    ("schema_file", "docs"),
    [(POLICY_SCHEMA, POLICY_DOCS), (TEST_SCHEMA, TEST_DOCS)],
    ids=["docs/policies.md", "docs/policy-tests.md"],
)
def test_docs_mention_every_field_of_the_schema(schema_file: Path, docs: Path):
    assert docs.exists(), f"{docs.relative_to(REPO)} is missing: it documents {schema_file.name}"
    fields, values = schema_words(json.loads(schema_file.read_text()))
    code = code_text(docs.read_text())
    missing = unmentioned(fields, code)
    assert not missing, f"{docs.relative_to(REPO)} never names these fields: {missing}"
    missing = unmentioned(values, code)
    assert not missing, f"{docs.relative_to(REPO)} never names these allowed values: {missing}"


def test_the_drift_check_can_fail():
    fields, _ = schema_words(json.loads(POLICY_SCHEMA.read_text()))
    assert "namespaceSelector" in fields
    assert unmentioned({"namespaceSelector"}, code_text("match on namespaceSelector")) == [
        "namespaceSelector"
    ]
    assert unmentioned({"namespaceSelector"}, code_text("use `namespaceSelector:`")) == []
    assert unmentioned({"key"}, code_text("`labelKeys`")) == ["key"]
