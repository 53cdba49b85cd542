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
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from webhook.errors import PolicyError, Problem
from webhook.policy import yamlsafe
from webhook.policy.apirules import field_errors

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Parsed(Generic[M]):
    """A validated document and where it came from (for errors found later, across documents)."""

    file: str
    index: int  # 1-based
    node: yaml.Node
    value: M

    def problem(
        self, loc: tuple[str | int, ...], message: str, field: tuple[str | int, ...] | None = None
    ) -> Problem:
        """A problem at `loc` (its line), about `field` (default: `loc`)."""
        line = line_of(self.node, loc)
        return Problem(self.file, self.index, line, loc if field is None else field, message)


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
    """The non-empty documents of a file as YAML nodes, with their 1-based index; a file the
    safe reader refuses (`yamlsafe`) is one problem."""
    try:
        documents = yamlsafe.compose_documents(filename, data)
    except PolicyError as exc:
        return [], list(exc.problems)
    return [(i, node) for i, node in enumerate(documents, start=1) if node is not None], []


def _validate(
    filename: str, index: int, node: yaml.Node, models: Mapping[str, type[M]]
) -> tuple[M | None, list[Problem]]:
    try:
        data = yamlsafe.to_python(filename, index, node)
    except PolicyError as exc:
        return None, list(exc.problems)
    if not isinstance(data, dict):
        line = node.start_mark.line + 1
        return None, [Problem(filename, index, line, (), "a policy document must be a mapping")]
    kind = data.get("kind")
    model = models.get(kind) if isinstance(kind, str) else None
    if model is None:
        message = f"unknown kind {kind!r}: expected one of {', '.join(models)}"
        return None, [Problem(filename, index, line_of(node, ("kind",)), ("kind",), message)]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [
            Problem(filename, index, line_of(node, loc), loc, message)
            for loc, message in _located(model, exc.errors())
        ]


def _located(model: type[BaseModel], errors: list[Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Each error's path and message. A ported apiserver rule reports every fault it found,
    each at the field inside the object it checked. A list too short only because an item of
    it failed is not reported apart."""
    located: list[tuple[Any, tuple[Any, ...], str]] = []
    for error in errors:
        loc = tuple(error["loc"])
        found = field_errors(error)
        if found:
            located += [(error, loc + path, message) for path, message in found]
        else:
            located.append((error, loc, _message(model, error)))
    failed = [loc for e, loc, _ in located if e["type"] != "too_short"]
    return [
        (loc, message)
        for e, loc, message in located
        if e["type"] != "too_short" or not any(f[: len(loc)] == loc for f in failed)
    ]


def _message(model: type[BaseModel], error: Any) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "literal_error":
        return _literal_message(model, loc, error)
    if error["type"] != "extra_forbidden":
        return str(error["msg"]).removeprefix("Value error, ")
    known = field_names(model, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f"unknown field; did you mean {close[0]!r}?" if close else "unknown field"


def _literal_message(model: type[BaseModel], loc: tuple[Any, ...], error: Any) -> str:
    """A value out of a fixed list (a workload name, an operator): the closest allowed one."""
    message = str(error["msg"])
    allowed = literal_values(model, loc)
    given = error.get("input")
    if not isinstance(given, str) or not allowed:
        return message
    close = difflib.get_close_matches(given, allowed, n=1, cutoff=0.6)
    return f"{message}; did you mean {close[0]!r}?" if close else message


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


def literal_values(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The allowed values of the Literal field (or list of Literal items) `loc` reaches."""
    names = list(loc)
    while names and isinstance(names[-1], int):  # an item of a list field: the field
        names.pop()
    if not names:
        return []
    parent: Any = model
    for part in names[:-1]:
        if isinstance(part, int) or not _is_model(parent):
            continue
        found = _field(parent, part)
        if found is None:
            return []
        parent = _item_model(found.annotation)
    field = _field(parent, names[-1]) if _is_model(parent) else None
    return [] if field is None else _literal_args(field.annotation)


def _field(model: Any, name: Any) -> Any:
    return next((f for n, f in model.model_fields.items() if name in (n, f.alias)), None)


def _literal_args(annotation: Any) -> list[str]:
    if get_origin(annotation) is Literal:
        return [str(a) for a in get_args(annotation)]
    return [v for arg in get_args(annotation) for v in _literal_args(arg)]


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
