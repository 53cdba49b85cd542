"""Named errors. Each renders as one readable line (CLI) or one 4xx body (HTTP)."""

from __future__ import annotations


class PolicyError(Exception):
    """A policy file that cannot be loaded: names the file, document, line and field."""

    def __init__(
        self, file: str, doc: int | None, line: int | None, path: str, message: str
    ) -> None:
        self.file, self.doc, self.line, self.path, self.message = file, doc, line, path, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.file]
        if self.doc is not None:
            where.append(f"document {self.doc}")
        if self.line is not None:
            where.append(f"line {self.line}")
        field = f"{one_line(self.path)}: " if self.path else ""
        return f"{', '.join(where)}: {field}{one_line(self.message)}"


def one_line(text: str) -> str:
    """`text` with its control characters escaped (a key may end in a newline): an error is
    one line, whatever the input held."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ReviewError(Exception):
    """A request body that is not a well-formed AdmissionReview (answered with HTTP 400)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


SHOWN_CHARACTERS = 64


def shown(value: object, limit: int = SHOWN_CHARACTERS) -> str:
    """A value from the input as an error message shows it: quoted, and never more than a
    short prefix, so an error about a 3 MiB string is not 3 MiB long (or 15 MiB, once repr()
    has escaped every byte)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else f"{text[:limit]}... ({len(text)} characters)"
