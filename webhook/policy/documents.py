"""YAML documents in, typed objects out, or every problem with its file, document, line and field.

One reader for every kind of file this project reads (policies, settings, policy tests): each
document is validated against the model its `kind` names, and a document that fails does not
stop the others from being checked, so one run reports every mistake of a file.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from webhook.errors import Problem

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Parsed(Generic[M]):
    """A validated document and where it came from (for errors found later, across documents)."""

    file: str
    index: int  # 1-based
    node: yaml.Node
    value: M

    def problem(
        self, loc: tuple[str | int, ...], message: str, field: str | None = None
    ) -> Problem:
        """A problem at `loc` (its line), named `field` (default: `loc` dotted)."""
        line = line_of(self.node, loc)
        return Problem(
            self.file, self.index, line, dotted(loc) if field is None else field, message
        )


def parse_documents(
    filename: str, data: bytes, models: Mapping[str, type[M]]
) -> tuple[list[Parsed[M]], list[Problem]]:
    """Every document of a file, each validated against `models[document.kind]`."""
    nodes, problems = compose_documents(filename, data)
    parsed: list[Parsed[M]] = []
    for index, node in nodes:
        value, found = _validate(filename, index, node, models)
        problems += found
        if value is not None:
            parsed.append(Parsed(filename, index, node, value))
    return parsed, problems


def compose_documents(
    filename: str, data: bytes
) -> tuple[list[tuple[int, yaml.Node]], list[Problem]]:
    """The non-empty documents of a file as YAML nodes, with their 1-based index."""
    nodes: list[tuple[int, yaml.Node]] = []
    index = 0
    try:
        # Composed one at a time, so a syntax error names the document it is in.
        for index, node in enumerate(
            yaml.compose_all(data.decode("utf-8"), Loader=yaml.SafeLoader), start=1
        ):
            if not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
                nodes.append((index, node))
    except UnicodeDecodeError as exc:
        return [], [Problem(filename, None, None, "", f"not UTF-8 text: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return nodes, [Problem(filename, index + 1, line, "", f"invalid YAML: {problem}")]
    return nodes, []


def _validate(
    filename: str, index: int, node: yaml.Node, models: Mapping[str, type[M]]
) -> tuple[M | None, list[Problem]]:
    try:
        data = to_python(node)
    except DuplicateKey as exc:
        return None, [Problem(filename, index, exc.line, exc.path, "duplicate key")]
    if not isinstance(data, dict):
        line = node.start_mark.line + 1
        return None, [Problem(filename, index, line, "", "a policy document must be a mapping")]
    kind = data.get("kind")
    model = models.get(kind) if isinstance(kind, str) else None
    if model is None:
        message = f"unknown kind {kind!r}: expected one of {', '.join(models)}"
        return None, [Problem(filename, index, line_of(node, ("kind",)), "kind", message)]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [
            Problem(filename, index, line_of(node, loc), dotted(loc), _message(model, error))
            for error in exc.errors()
            for loc in [tuple(error["loc"])]
        ]


def _message(model: type[BaseModel], error: Any) -> str:
    if error["type"] != "extra_forbidden":
        return str(error["msg"]).removeprefix("Value error, ")
    loc = tuple(error["loc"])
    known = field_names(model, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f"unknown field; did you mean {close[0]!r}?" if close else "unknown field"


def field_names(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names (as written in YAML) of the object that `loc` reaches in `model`."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not _is_model(current):
            continue  # an index into a list, or a dict key: the item type was unwrapped below
        fields = current.model_fields
        found = next((f for n, f in fields.items() if part in (n, f.alias)), None)
        if found is None:
            return []
        current = _item_model(found.annotation)
    if not _is_model(current):
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _item_model(annotation: Any) -> Any:
    """The model class inside `X | None`, `tuple[X, ...]`, `dict[str, X]`: what a path into
    the field reaches once its indexes are skipped."""
    if _is_model(annotation):
        return annotation
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, tuple, list, dict):
        for arg in get_args(annotation):
            model = _item_model(arg)
            if model is not None:
                return model
    return None


class DuplicateKey(Exception):
    def __init__(self, line: int, path: str) -> None:
        self.line, self.path = line, path


def to_python(node: yaml.Node, path: str = "") -> Any:
    """Plain data from a YAML node; duplicate keys are errors (YAML silently keeps one)."""
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = to_python(key_node)
            where = f"{path}.{key}" if path else str(key)
            if key in out:
                raise DuplicateKey(key_node.start_mark.line + 1, where)
            out[key] = to_python(value_node, where)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [to_python(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
    return yaml.SafeLoader(b"").construct_object(node, deep=True)


def line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest node that `loc` reaches."""
    current = node
    for part in loc:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if key_node.value == part:
                    current = value_node
                    break
            else:
                break
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                break
            current = current.value[part]
        else:
            break
    return int(current.start_mark.line) + 1


def dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
