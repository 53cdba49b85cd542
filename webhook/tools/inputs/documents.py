"""Objects out of YAML or JSON streams: every document, and every item of a `List`.

`kubectl get pods -A -o yaml` prints one `kind: List`; the API's own lists (`PodList`,
`DeploymentList`...) may leave `kind` out of their items, which then take it from the list.
A stream whose first character is `{` or `[` is JSON, read one item at a time (`jsonstream`);
any other is YAML, read by the safe reader policy files use, with the limits for manifests
(`webhook.policy.yamlsafe`): an alias bomb or deep nesting is one error line, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from webhook.errors import PolicyError
from webhook.policy.yamlsafe import MANIFEST_LIMITS, compose_documents, to_python
from webhook.tools.inputs.jsonstream import CHUNK, JsonError, JsonStream

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class DocumentError(Exception):
    """A document that is not a Kubernetes object: one line naming the file and document."""


@dataclass(frozen=True)
class Item:
    source: str  # "pods.yaml, document 2, item 14": where a skip or an error points
    obj: Mapping[str, Any]


def read_inputs(paths: Iterable[str], stdin: TextIO) -> Iterator[Item]:
    """Every object of every input, as it is read: `-` is standard input, a directory its
    manifests."""
    for path in paths:
        if path == "-":
            yield from read_stream("<stdin>", stdin.read)
            continue
        for file in manifest_files(Path(path)):
            try:
                with file.open(encoding="utf-8") as stream:
                    yield from read_stream(str(file), stream.read)
            except (OSError, UnicodeDecodeError) as exc:
                raise DocumentError(f"{file}: cannot read: {exc}") from None


def manifest_files(path: Path) -> list[Path]:
    """A file itself; a directory's manifests, recursively, in name order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    return [path]


def read_stream(name: str, read: Callable[[int], str]) -> Iterator[Item]:
    """The objects of one stream, JSON or YAML."""
    head = read(CHUNK)
    if head.lstrip()[:1] in ("{", "["):
        yield from read_json(name, _after(head, read))
    else:
        yield from read_items(name, head + read(-1))


def read_json(name: str, read: Callable[[int], str]) -> Iterator[Item]:
    stream = JsonStream(read)
    number = 0
    try:
        for fields, items in stream.documents():
            number += 1
            source = f"{name}, document {number}"
            if items is None:
                yield from _flatten(source, fields)
                continue
            kind = fields.get("kind")
            item_kind = kind.removesuffix("List") if isinstance(kind, str) else ""
            for index, item in enumerate(items, start=1):
                yield _item(f"{source}, item {index}", item, item_kind)
    except JsonError as exc:
        raise DocumentError(f"{name}, document {max(number, 1)}: {exc}") from None


def read_items(name: str, text: str) -> list[Item]:
    """Every object of a YAML stream, lists flattened; empty documents are skipped."""
    try:
        nodes = compose_documents(name, text.encode("utf-8", "surrogatepass"), MANIFEST_LIMITS)
        documents = [
            (number, to_python(name, number, node, MANIFEST_LIMITS))
            for number, node in enumerate(nodes, start=1)
            if node is not None
        ]
    except PolicyError as exc:
        raise DocumentError(str(exc.first)) from None
    items: list[Item] = []
    for number, document in documents:
        items += _flatten(f"{name}, document {number}", document)
    return items


def _after(head: str, read: Callable[[int], str]) -> Callable[[int], str]:
    """`read`, the text already read returned first."""
    pending = [head]

    def read_more(size: int) -> str:
        return pending.pop() if pending else read(size)

    return read_more


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
        yield _item(f"{source}, item {index}", item, item_kind)


def _item(where: str, item: Any, item_kind: str) -> Item:
    if not isinstance(item, Mapping):
        raise DocumentError(f"{where}: not a Kubernetes object (a mapping with a kind)")
    return Item(where, item if "kind" in item or not item_kind else {"kind": item_kind, **item})
