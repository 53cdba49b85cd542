"""What an editor shows on policy and policy test files: the real yaml-language-server, driven
over LSP as VS Code, Neovim or Helix drive it, checks every document of a multi-document file.

yaml-language-server takes a document's schema from the modeline among that document's own
header comments (`getDocumentHeaderComments` in its `yamlParser07`), so each document after a
`---` carries one; `.vscode/settings.json` associates the schemas by path as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lsp import SERVER, LanguageServer, yaml_language_server
from tests.test_schema_files import POLICY_SCHEMA, SHIPPED_FILES, TEST_SCHEMA, is_test_file

REPO = Path(__file__).resolve().parent.parent
SETTINGS = REPO / ".vscode" / "settings.json"
EKS = REPO / "policies" / "examples" / "eks" / "policies.yaml"
TYPO = "  descripton: a mistyped field"  # under `spec:`, whose every kind forbids unknown fields
MODELINE_AFTER_SEPARATOR = re.compile(r"^---\n# yaml-language-server: .*\n", re.MULTILINE)


@pytest.fixture(scope="module")
def editor() -> Iterator[LanguageServer]:
    """An editor with no workspace settings: only the files' modelines associate schemas."""
    assert SERVER.exists(), f"{SERVER.relative_to(REPO)} is missing: run `make install`"
    with yaml_language_server(REPO) as server:
        yield server


@pytest.fixture(scope="module")
def editor_with_settings() -> Iterator[LanguageServer]:
    """An editor opened on the repository, with its `.vscode/settings.json`."""
    assert SERVER.exists(), f"{SERVER.relative_to(REPO)} is missing: run `make install`"
    with yaml_language_server(REPO, SETTINGS) as server:
        yield server


def with_typo(text: str, document: int) -> tuple[str, int]:
    """`text` with an unknown field under `spec:` of its `document`-th document (1-based),
    and the 0-based line of that field."""
    lines = text.splitlines()
    starts = [0] + [i + 1 for i, line in enumerate(lines) if line == "---"]
    at = next(i for i in range(starts[document - 1], len(lines)) if lines[i] == "spec:") + 1
    return "\n".join([*lines[:at], TYPO, *lines[at:]]) + "\n", at


def shown(diagnostics: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(d["range"]["start"]["line"], d["message"]) for d in diagnostics]


def schema_of(diagnostic: dict[str, Any]) -> Path:
    (uri,) = diagnostic["data"]["schemaUri"]
    return Path(uri.removeprefix("file://"))


def test_there_are_files_of_many_documents_to_check():
    assert EKS.read_text().count("\n---\n") >= 4


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_file_shows_no_problem(editor: LanguageServer, path: Path):
    assert shown(editor.diagnostics(path)) == []


@pytest.mark.parametrize("document", [3, 5, 8], ids=lambda n: f"document {n}")
def test_a_typo_in_a_late_document_is_shown_on_its_line(editor: LanguageServer, document: int):
    text, line = with_typo(EKS.read_text(), document)
    (diagnostic,) = editor.diagnostics(EKS, text)
    assert shown([diagnostic]) == [(line, "Property descripton is not allowed.")]
    assert schema_of(diagnostic) == POLICY_SCHEMA


def test_a_typo_in_a_late_document_of_a_policy_test_file_is_shown(editor: LanguageServer):
    """Three shipped test files as the documents of one: each begins with its modeline."""
    tests = sorted(p for p in SHIPPED_FILES if is_test_file(p) and p.parent.name == "policies")
    combined = "---\n".join(p.read_text() for p in tests[:3])
    text, line = with_typo(combined, 3)
    (diagnostic,) = editor.diagnostics(REPO / "policies" / "combined.test.yaml", text)
    assert shown([diagnostic]) == [(line, "Property descripton is not allowed.")]
    assert schema_of(diagnostic) == TEST_SCHEMA


def test_without_a_modeline_in_its_document_a_typo_goes_unseen(editor: LanguageServer):
    """Why every document carries the modeline: the first one covers the first document only."""
    first_only = MODELINE_AFTER_SEPARATOR.sub("---\n", EKS.read_text())
    assert first_only.startswith("# yaml-language-server: ")
    text, line = with_typo(first_only, 1)
    assert shown(editor.diagnostics(EKS, text)) == [(line, "Property descripton is not allowed.")]
    text, _ = with_typo(first_only, 3)
    assert editor.diagnostics(EKS, text) == []


def without_modelines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("# yaml-lang"))


@pytest.mark.parametrize(
    ("path", "schema"),
    [(EKS, POLICY_SCHEMA), (REPO / "policies" / "20-batch-spot.test.yaml", TEST_SCHEMA)],
    ids=["policy file", "policy test file"],
)
def test_workspace_settings_check_every_document_without_modelines(
    editor_with_settings: LanguageServer, path: Path, schema: Path
):
    bare = without_modelines(path.read_text())
    assert editor_with_settings.diagnostics(path, bare) == []
    last = bare.count("\n---\n") + 1
    text, line = with_typo(bare, last)
    (diagnostic,) = editor_with_settings.diagnostics(path, text)
    assert shown([diagnostic]) == [(line, "Property descripton is not allowed.")]
    assert schema_of(diagnostic) == schema
