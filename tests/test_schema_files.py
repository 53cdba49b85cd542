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
AJV = REPO / "node_modules" / ".bin" / "ajv"  # package.json pins it; `make install` installs it
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
# Draft 2020-12's meta-schema lets any unknown keyword through; this one does not. Its
# `$dynamicAnchor: meta` is where the meta-schema's `$dynamicRef: #meta` lands for every
# subschema it checks (properties, $defs, items, if/then...), so an unknown keyword at any depth
# is an error, as in a strict validator.
STRICT_META = {
    "$schema": DRAFT_2020_12,
    "$id": "https://pod-placement-webhook/strict-meta-schema.json",
    "$dynamicAnchor": "meta",
    "$ref": DRAFT_2020_12,
    "unevaluatedProperties": False,
}
SCHEMAS = pytest.mark.parametrize(
    "schema_file", [POLICY_SCHEMA, TEST_SCHEMA], ids=["policy", "policy test"]
)

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


def strict_errors(schema: dict[str, Any]) -> list[str]:
    jsonschema.Draft202012Validator.check_schema(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(STRICT_META).iter_errors(schema)
    ]


def ajv_strict(schema_file: Path) -> subprocess.CompletedProcess[str]:
    assert AJV.exists(), f"{AJV.relative_to(REPO)} is missing: run `make install`"
    return subprocess.run(
        [str(AJV), "compile", "--spec=draft2020", "--strict=true", "-s", str(schema_file)],
        capture_output=True,
        text=True,
    )


# OpenAPI's tagged-union keyword, nested and at the top: what pydantic writes for a union.
OPENAPI_STYLE = {
    "$schema": DRAFT_2020_12,
    "oneOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/B"}],
    "discriminator": {"propertyName": "kind", "mapping": {"A": "#/$defs/A", "B": "#/$defs/B"}},
    "$defs": {
        "A": {"properties": {"kind": {"const": "A"}}},
        "B": {"properties": {"kind": {"const": "B", "discriminator": {}}}},
    },
}


@SCHEMAS
def test_schema_has_only_draft_2020_12_keywords(schema_file: Path):
    assert strict_errors(json.loads(schema_file.read_text())) == []


def test_the_strict_meta_check_finds_unknown_keywords_at_any_depth():
    errors = strict_errors(OPENAPI_STYLE)  # the plain check_schema inside lets it through
    assert any(e.startswith(": ") and "'discriminator'" in e for e in errors)
    assert any(e.startswith("$defs/B/properties/kind:") for e in errors)


@SCHEMAS
def test_ajv_in_strict_mode_compiles_the_schema(schema_file: Path):
    done = ajv_strict(schema_file)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ajv_in_strict_mode_rejects_openapi_keywords(tmp_path: Path):
    (tmp_path / "openapi.json").write_text(json.dumps(OPENAPI_STYLE))
    done = ajv_strict(tmp_path / "openapi.json")
    assert done.returncode != 0
    assert 'unknown keyword: "discriminator"' in done.stdout + done.stderr


def test_the_schema_checks_a_document_against_its_own_kind_only():
    """Editors report the errors of the document's kind, not of every kind."""
    validator = jsonschema.Draft202012Validator(json.loads(POLICY_SCHEMA.read_text()))
    settings = {
        "apiVersion": "pod-placement-webhook/v1",
        "kind": "PolicySettings",
        "spec": {"placementExcludedNamespaces": ["kube-system"], "order": 1},
    }
    errors = list(validator.iter_errors(settings))
    assert [(list(e.absolute_path), e.validator) for e in errors] == [
        (["spec"], "additionalProperties")
    ]
    assert "'order' was unexpected" in errors[0].message
    unknown = {"apiVersion": "pod-placement-webhook/v1", "kind": "PlacementPolicyy"}
    assert [(list(e.absolute_path), e.validator) for e in validator.iter_errors(unknown)] == [
        (["kind"], "enum")
    ]


def document_heads(text: str) -> list[str]:
    """The first line of each YAML document: line 1, and the line after each `---`."""
    lines = text.splitlines()
    return [lines[0]] + [lines[i + 1] for i, line in enumerate(lines[:-1]) if line == "---"]


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_document_has_a_modeline_to_the_right_schema(path: Path):
    """yaml-language-server reads the modeline from each document's own header comments, so a
    document without one is never checked (tests/test_editor_validation.py shows both)."""
    heads = document_heads(path.read_text())
    assert len(heads) == sum(1 for d in yaml.safe_load_all(path.read_text()) if d is not None)
    for number, head in enumerate(heads, start=1):
        found = MODELINE.match(head)
        assert found, (
            f"{path.relative_to(REPO)}: document {number} must begin with the "
            "yaml-language-server modeline"
        )
        target = (path.parent / found.group(1)).resolve()
        assert target == (TEST_SCHEMA if is_test_file(path) else POLICY_SCHEMA)


def test_the_modeline_check_sees_each_document():
    heads = document_heads("# yaml-language-server: $schema=a\nx: 1\n---\ny: 2\n")
    assert heads == ["# yaml-language-server: $schema=a", "y: 2"]


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
