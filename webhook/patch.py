"""RFC 6902 JSON Patch `add` operations and RFC 6901 pointers. Only here.

Every operation is an `add` that is valid against the document as it is at that point of the
patch (kube-apiserver applies it with evanphx/json-patch v4, which never creates a missing
parent): a whole list or map is added where none exists, items are appended with `/-`, keys are
added to an existing map. Nothing the pod already has is replaced or removed.

Each builder returns the operations and the document they make, so the next addition is built
against it; the document is copied only along the changed path, never deeply.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

Op = dict[str, Any]
Segment = str | int
Doc = Mapping[str, Any]


class PatchError(Exception):
    """The pod has a value of the wrong type where an addition must go (e.g. a string list)."""


def escape(segment: Segment) -> str:
    """RFC 6901: `~` becomes `~0`, then `/` becomes `~1` (in that order)."""
    return str(segment).replace("~", "~0").replace("/", "~1")


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~") if "~" in segment else segment


def pointer(segments: Sequence[Segment]) -> str:
    if type(segments) is tuple:
        return _pointer(segments)
    return "".join("/" + escape(s) for s in segments)


@functools.lru_cache(maxsize=4096)  # the paths mutations add to are few and fixed
def _pointer(segments: tuple[Segment, ...]) -> str:
    return "".join("/" + escape(s) for s in segments)


def _is_map(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _first_missing(doc: Any, path: Sequence[Segment]) -> tuple[int, Any]:
    """Index of the first segment of `path` absent (or null) in `doc`, and the node reached."""
    for depth, segment in enumerate(path):
        if _is_map(doc):
            if doc.get(segment) is None:
                return depth, doc
            doc = doc[segment]
        elif type(doc) is list and type(segment) is int and 0 <= segment < len(doc):
            doc = doc[segment]
        else:
            raise PatchError(f"{pointer(path[:depth]) or '/'} is not an object")
    return len(path), doc


def _nest(segments: Sequence[Segment], value: Any) -> Any:
    for segment in reversed(segments):
        value = {segment: value}
    return value


def _replace_at(doc: Any, path: Sequence[Segment], make: Any) -> Any:
    """A copy of `doc` whose node at `path` is `make(node)`, copying only the path's nodes."""
    copies: list[Any] = []
    node = doc
    for segment in path:
        copy = dict(node) if type(node) is dict or isinstance(node, Mapping) else list(node)
        copies.append(copy)
        node = node[segment]
    replaced = make(node)
    for copy, segment in zip(reversed(copies), reversed(path), strict=True):
        copy[segment] = replaced
        replaced = copy
    return replaced


def _whole(doc: Doc, path: Sequence[Segment], depth: int, value: Any) -> tuple[list[Op], Doc]:
    """Add the missing part of `path` (from `depth` on) as one nested value."""
    missing = path[depth + 1 :]
    nested = _nest(missing, value)
    op = {"op": "add", "path": pointer(path[: depth + 1]), "value": nested}
    parent = path[:depth]
    segment = path[depth]
    return [op], _replace_at(doc, parent, lambda node: {**node, segment: nested})


def append(doc: Doc, path: Sequence[Segment], items: Sequence[Any]) -> tuple[list[Op], Doc]:
    """Append `items` to the list at `path`: one whole-list add if it is absent, else `/-`."""
    if not items:
        return [], doc
    depth, node = _first_missing(doc, path)
    if depth < len(path):
        if not _is_map(node):
            raise PatchError(f"{pointer(path[:depth])} is not an object")
        return _whole(doc, path, depth, list(items))
    if type(node) is not list:
        raise PatchError(f"{pointer(path)} is not a list")
    at_end = pointer(path) + "/-"
    ops = [{"op": "add", "path": at_end, "value": item} for item in items]
    return ops, _replace_at(doc, path, lambda old: [*old, *items])


def set_keys(doc: Doc, path: Sequence[Segment], entries: Mapping[str, Any]) -> tuple[list[Op], Doc]:
    """Add keys to the map at `path`: one whole-map add if it is absent."""
    if not entries:
        return [], doc
    depth, node = _first_missing(doc, path)
    if depth < len(path):
        return _whole(doc, path, depth, dict(entries))
    if not _is_map(node):
        raise PatchError(f"{pointer(path)} is not an object")
    base = pointer(path)
    ops = [{"op": "add", "path": f"{base}/{escape(k)}", "value": v} for k, v in entries.items()]
    return ops, _replace_at(doc, path, lambda old: {**old, **entries})


def append_each(
    doc: Doc, path: Sequence[Segment], plan: Sequence[tuple[Sequence[Segment], Sequence[Any]]]
) -> tuple[list[Op], Doc]:
    """Append each list of `plan` at its sub-path under `path` (an empty sub-path: `path`).
    Sub-paths into items of the list at `path` (`(3, "matchExpressions")`) copy that list
    once, however many of its items change: linear in its length."""
    if not all(sub_path and type(sub_path[0]) is int for sub_path, _ in plan):
        ops: list[Op] = []
        for sub_path, items in plan:
            more, doc = append(doc, (*path, *sub_path), items)
            ops += more
        return ops, doc
    return _append_into_items(doc, path, plan)


def _append_into_items(
    doc: Doc, path: Sequence[Segment], plan: Sequence[tuple[Sequence[Segment], Sequence[Any]]]
) -> tuple[list[Op], Doc]:
    depth, node = _first_missing(doc, path)
    if depth < len(path) or type(node) is not list:
        raise PatchError(f"{pointer(path)} is not a list")
    base = pointer(path)
    ops: list[Op] = []
    changed: dict[int, Any] = {}
    for sub_path, items in plan:
        index, rest = sub_path[0], sub_path[1:]
        assert type(index) is int
        item = changed[index] if index in changed else node[index]
        more, changed[index] = append(item, rest, items)
        for op in more:  # made here: its path can be completed in place
            op["path"] = f"{base}/{index}{op['path']}"
        ops += more
    return ops, _replace_at(doc, path, lambda old: [changed.get(i, x) for i, x in enumerate(old)])


def apply_ops(doc: Doc, ops: Sequence[Op]) -> dict[str, Any]:
    """Apply `add` operations of this module to `doc`, copying only the containers on each
    path (for tests and tools; the builders above already return the document)."""
    out: Any = doc
    for op in ops:
        segments: list[Segment] = [unescape(s) for s in op["path"].split("/")[1:]]
        if segments[-1] == "-":
            out = _replace_at(
                out, _indexed(out, segments[:-1]), lambda old, v=op: [*old, v["value"]]
            )
            continue
        parent, key = _indexed(out, segments[:-1]), segments[-1]
        out = _replace_at(out, parent, lambda node, k=key, v=op["value"]: _put(node, k, v))
    return dict(out)


def _indexed(doc: Any, segments: Sequence[Segment]) -> list[Segment]:
    """`segments` with list indexes as integers, read against `doc`."""
    out: list[Segment] = []
    for segment in segments:
        if type(doc) is list:
            segment = int(segment)
        out.append(segment)
        doc = doc[segment]
    return out


def _put(node: Any, key: Segment, value: Any) -> Any:
    if _is_map(node):
        return {**node, key: value}
    if type(node) is list:
        copy = list(node)
        copy.insert(int(key), value)
        return copy
    raise PatchError(f"cannot add under a {type(node).__name__}")
