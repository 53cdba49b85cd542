"""JSON read one object at a time: a `List` of 100,000 pods (`kubectl get pods -A -o json`, or a
page of the API) is never held whole, and costs one pass of the standard library's decoder.

The top level is walked here; every value in it (an item of `items`, the other fields) is
decoded by `json.JSONDecoder.raw_decode`. The text is read in chunks; a value cut by the end of
a chunk is decoded again once the next one is read, and the chunk read next is at least as long
as what is buffered, so a value of any size costs linear time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

CHUNK = 1 << 22  # characters read at a time
FILLS = 2  # reads past the buffer to find where an indented object ends
_WHITESPACE = " \t\n\r"


class JsonError(Exception):
    """Malformed JSON: the message says where (line) and what."""


class JsonStream:
    """The values of a JSON text, one top-level value after another (`kubectl` prints one)."""

    def __init__(self, read: Callable[[int], str]) -> None:
        self.read = read
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self.lines_before = 0  # newlines in the text already dropped from the buffer
        self.decoder = json.JSONDecoder()

    def documents(self) -> Iterator[tuple[Mapping[str, Any], Iterator[Any] | None]]:
        """Each top-level object as (its fields but `items`, an iterator over `items`); read
        the items before asking for the next document. A top-level array is its own items."""
        while self.peek():
            if self.peek() == "[":
                yield {}, self.array()
            elif self.peek() == "{":
                yield from self.object()
            else:
                yield self.value(), None

    def object(self) -> Iterator[tuple[Mapping[str, Any], Iterator[Any] | None]]:
        """A top-level object, its `items` array streamed; the fields before `items` are known
        when its items are read (the API writes `kind` first, kubectl sorts it after)."""
        fields: dict[str, Any] = {}
        self.expect("{")
        streamed = False
        while self.peek() != "}":
            if fields or streamed:
                self.expect(",")
            key = self.value()
            if not isinstance(key, str):
                raise self.error("an object key must be a string")
            self.expect(":")
            if key == "items" and self.peek() == "[" and not streamed:
                streamed = True
                yield fields, self.array()
            else:
                fields[key] = self.value()
        self.expect("}")
        if not streamed:
            yield fields, None

    def array(self) -> Iterator[Any]:
        self.expect("[")
        first = True
        while self.peek() != "]":
            if not first:
                self.expect(",")
            first = False
            yield self.value()
        self.expect("]")

    def value(self) -> Any:
        if self.peek() == "{":
            found = self.indented_object()
            if found is not None:
                return found[0]
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if self.cut_short(exc) and self.fill():
                    continue
                raise self.error(exc.msg, exc.pos) from None
            except RecursionError:
                raise self.error("nested too deeply") from None
            # A number or a literal that ends the buffer may go on in the next chunk.
            if end == len(self.buffer) and not self.eof and self.fill():
                continue
            self.pos = end
            return value

    def indented_object(self) -> tuple[Any] | None:
        """An object written on lines of its own, as `kubectl -o json` writes each item: its
        closing brace is the first one indented as its opening line, and orjson (several times
        faster than the standard library) decodes the text between them. The text decodes only
        if that brace is the object's own: any other would leave brackets open or text after
        the object. None when the text is not laid out so; the caller decodes it then."""
        buffer, pos = self.buffer, self.pos
        line = buffer.rfind("\n", 0, pos) + 1
        indent = buffer[line:pos]
        if not indent or indent.strip(" \t"):
            return None
        marker = "\n" + indent + "}"
        end = buffer.find(marker, pos)
        for _ in range(FILLS):
            if end != -1 or not self.fill():
                break
            buffer, pos = self.buffer, self.pos
            end = buffer.find(marker, pos)
        if end == -1:
            return None
        end += len(marker)
        try:
            value = orjson.loads(buffer[pos:end])
        except orjson.JSONDecodeError:
            return None
        self.pos = end
        return (value,)

    def cut_short(self, exc: json.JSONDecodeError) -> bool:
        """Whether the value may only be cut by the end of the buffer: the decoder stopped
        there, or in a string that does not end before it (a literal such as `tru` stops a
        few characters before). Anything else is malformed wherever the text goes on."""
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buffer) - 6

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end"
            raise self.error(f"expected {char!r}, found {found}")
        self.pos += 1

    def peek(self) -> str:
        """The next character that is not whitespace, reading more as needed ("" at the end)."""
        while True:
            buffer, pos = self.buffer, self.pos
            while pos < len(buffer) and buffer[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(buffer):
                return buffer[pos]
            if not self.fill():
                return ""

    def fill(self) -> bool:
        """Read more: at least as much as is buffered past the position. False at the end."""
        if self.eof:
            return False
        more = self.read(max(CHUNK, len(self.buffer) - self.pos))
        if not more:
            self.eof = True
            return False
        self.lines_before += self.buffer.count("\n", 0, self.pos)
        self.buffer = self.buffer[self.pos :] + more
        self.pos = 0
        return True

    def error(self, message: str, at: int | None = None) -> JsonError:
        at = self.pos if at is None else at
        line = self.lines_before + self.buffer.count("\n", 0, at) + 1
        return JsonError(f"invalid JSON: {message} (line {line})")
