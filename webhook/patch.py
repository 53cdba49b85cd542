"""RFC 6902 JSON Patch operations built from Additions; RFC 6901 pointers. Only here.

Every operation is an `add` that is valid against the document as it is at that point of the
patch (kube-apiserver applies it with evanphx/json-patch v4, which never creates a missing
parent): a whole list or map is added where none exists, items are appended with `/-`, keys are
added to an existing map. Nothing the pod already has is replaced or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from webhook.additions import Additions
from webhook.mutations.affinity import same_expression

Op = dict[str, Any]
Segment = str | int

_AFFINITY = ("spec", "affinity")
_REQUIRED_TERMS = (
    *_AFFINITY,
    "nodeAffinity",
    "requiredDuringSchedulingIgnoredDuringExecution",
    "nodeSelectorTerms",
)
_PREFERRED_NODE = (*_AFFINITY, "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
_PREFERRED_POD = (*_AFFINITY, "podAffinity", "preferredDuringSchedulingIgnoredDuringExecution")


class PatchError(Exception):
    """The pod has a value of the wrong type where an addition must go (e.g. a string list)."""


def escape(segment: Segment) -> str:
    """RFC 6901: `~` becomes `~0`, then `/` becomes `~1` (in that order)."""
    return str(segment).replace("~", "~0").replace("/", "~1")


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~") if "~" in segment else segment


def pointer(segments: Sequence[Segment]) -> str:
    return "".join("/" + escape(s) for s in segments)


def ops_for(pod: Mapping[str, Any], adds: Additions) -> list[Op]:
    return patched(pod, adds)[0]


def patched(pod: Mapping[str, Any], adds: Additions) -> tuple[list[Op], Mapping[str, Any]]:
    """The operations that add `adds` to `pod`, and the pod they make."""
    ops: list[Op] = []
    doc = pod

    # Each group is built against the pod as the groups before it left it: required and
    # preferred node affinity can share a missing parent (`/spec/affinity/nodeAffinity`), and
    # two whole-map adds of that parent would leave only the second.
    def extend(new: list[Op]) -> None:
        nonlocal doc
        if new:
            ops.extend(new)
            doc = apply_ops(doc, new)

    extend(append_ops(doc, ("spec", "tolerations"), adds.tolerations))
    if adds.node_required:
        extend(_required_expression_ops(doc, adds.node_required))
    extend(append_ops(doc, _PREFERRED_NODE, adds.node_preferred))
    extend(append_ops(doc, _PREFERRED_POD, adds.pod_affinity_preferred))
    extend(append_ops(doc, ("spec", "dnsConfig", "options"), adds.dns_options))
    extend(set_key_ops(doc, ("metadata", "annotations"), adds.annotations))
    extend(set_key_ops(doc, ("metadata", "labels"), adds.labels))
    return ops, doc


def _required_expression_ops(pod: Mapping[str, Any], exprs: list[dict[str, Any]]) -> list[Op]:
    terms = _get(pod, _REQUIRED_TERMS)
    if not isinstance(terms, list) or not terms:
        return append_ops(pod, _REQUIRED_TERMS, [{"matchExpressions": list(exprs)}])
    ops: list[Op] = []
    for index, term in enumerate(terms):
        present = term.get("matchExpressions") if isinstance(term, Mapping) else None
        present = present if isinstance(present, list) else []
        missing = [e for e in exprs if not any(same_expression(e, p) for p in present)]
        ops += append_ops(pod, (*_REQUIRED_TERMS, index, "matchExpressions"), missing)
    return ops


def _get(doc: Any, path: Sequence[Segment]) -> Any:
    for segment in path:
        if type(doc) is dict or isinstance(doc, Mapping):
            doc = doc.get(segment)
        elif isinstance(doc, list) and isinstance(segment, int) and segment < len(doc):
            doc = doc[segment]
        else:
            return None
    return doc


def _first_missing(doc: Any, path: Sequence[Segment]) -> tuple[int, Any]:
    """Index of the first segment of `path` absent (or null) in `doc`, and the node reached."""
    for depth, segment in enumerate(path):
        if type(doc) is dict or isinstance(doc, Mapping):
            if doc.get(segment) is None:
                return depth, doc
            doc = doc[segment]
        elif isinstance(doc, list) and isinstance(segment, int) and 0 <= segment < len(doc):
            doc = doc[segment]
        else:
            raise PatchError(f"{pointer(path[:depth]) or '/'} is not an object")
    return len(path), doc


def _nest(segments: Sequence[Segment], value: Any) -> Any:
    for segment in reversed(segments):
        value = {segment: value}
    return value


def append_ops(doc: Mapping[str, Any], path: Sequence[Segment], items: list[Any]) -> list[Op]:
    """Append `items` to the list at `path`: one whole-list add if it is absent, else `/-`."""
    if not items:
        return []
    depth, node = _first_missing(doc, path)
    if depth < len(path):
        if not isinstance(node, Mapping):
            raise PatchError(f"{pointer(path[:depth])} is not an object")
        return [
            {
                "op": "add",
                "path": pointer(path[: depth + 1]),
                "value": _nest(path[depth + 1 :], list(items)),
            }
        ]
    if not isinstance(node, list):
        raise PatchError(f"{pointer(path)} is not a list")
    return [{"op": "add", "path": pointer(path) + "/-", "value": item} for item in items]


def set_key_ops(
    doc: Mapping[str, Any], path: Sequence[Segment], entries: dict[str, Any]
) -> list[Op]:
    """Add keys to the map at `path`: one whole-map add if it is absent."""
    if not entries:
        return []
    depth, node = _first_missing(doc, path)
    if depth < len(path):
        return [
            {
                "op": "add",
                "path": pointer(path[: depth + 1]),
                "value": _nest(path[depth + 1 :], dict(entries)),
            }
        ]
    if not isinstance(node, Mapping):
        raise PatchError(f"{pointer(path)} is not an object")
    return [{"op": "add", "path": pointer((*path, key)), "value": v} for key, v in entries.items()]


def apply_ops(doc: Mapping[str, Any], ops: Sequence[Op]) -> dict[str, Any]:
    """Apply our own `add` operations, copying only the containers on each path.

    Used to let each policy see what the policies before it added; the result is never sent.
    """
    out: Any = doc
    for op in ops:
        segments = [unescape(s) for s in op["path"].split("/")[1:]]
        out = _add(out, segments, op["value"])
    return dict(out)


def _add(node: Any, segments: list[str], value: Any) -> Any:
    head, rest = segments[0], segments[1:]
    if type(node) is dict or isinstance(node, Mapping):
        copy = dict(node)
        copy[head] = _add(node[head], rest, value) if rest else value
        return copy
    if isinstance(node, list):
        copy_list = list(node)
        index = len(copy_list) if head == "-" else int(head)
        if rest:
            copy_list[index] = _add(node[index], rest, value)
        else:
            copy_list.insert(index, value)
        return copy_list
    raise PatchError(f"cannot add under a {type(node).__name__}")
