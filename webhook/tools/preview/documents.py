"""Objects out of YAML or JSON streams: every document, and every item of a `List`.

`kubectl get pods -A -o yaml` prints one `kind: List`; the API's own lists (`PodList`,
`DeploymentList`...) may leave `kind` out of their items, which then take it from the list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class DocumentError(Exception):
    """A document that is not a Kubernetes object: one line naming the file and document."""


@dataclass(frozen=True)
class Item:
    source: str  # "pods.yaml, document 2, item 14": where a skip or an error points
    obj: Mapping[str, Any]


def manifest_files(path: Path) -> list[Path]:
    """A file itself; a directory's manifests, recursively, in name order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    return [path]


def read_items(name: str, text: str) -> list[Item]:
    """Every object of a stream, lists flattened; empty documents are skipped."""
    items: list[Item] = []
    documents = yaml.safe_load_all(text)
    number = 0
    while True:
        number += 1
        try:
            document = next(documents)
        except StopIteration:
            return items
        except yaml.YAMLError as exc:
            raise DocumentError(
                f"{name}, document {number}: invalid YAML: {_problem(exc)}"
            ) from None
        if document is not None:
            items += _flatten(f"{name}, document {number}", document)


def _flatten(source: str, document: Any) -> Iterator[Item]:
    if not isinstance(document, Mapping):
        raise DocumentError(f"{source}: not a Kubernetes object (a mapping with a kind)")
    kind = document.get("kind")
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in document):
        yield Item(source, document)
        return
    items = document.get("items") or []
    if not isinstance(items, list):
        raise DocumentError(f"{source}: {kind} items must be a list")
    item_kind = kind.removesuffix("List")
    for index, item in enumerate(items, start=1):
        where = f"{source}, item {index}"
        if not isinstance(item, Mapping):
            raise DocumentError(f"{where}: not a Kubernetes object (a mapping with a kind)")
        yield Item(where, item if "kind" in item or not item_kind else {"kind": item_kind, **item})


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} (line {mark.line + 1})" if mark is not None else str(problem)
