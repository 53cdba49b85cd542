"""Named errors. Each renders as readable lines (CLI) or one 4xx body (HTTP).

A policy problem carries where it is as data (file, document, line, and the field's path as a
tuple) and its message apart, as apimachinery's `field.Error` does with `field.Path`; whoever
prints it formats it (`dotted`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    """A map key in a path: rendered `[name]`, like an index (field.Path.Key)."""

    name: str


Step = str | int | Key
Path = tuple[Step, ...]


def dotted(path: Path) -> str:
    """`spec.tolerations[0].key`, as field.Path.String() renders it."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif isinstance(step, Key):
            out += f"[{step.name}]"
        else:
            out += f".{step}" if out else str(step)
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a policy file."""

    file: str
    document: int | None  # 1-based index of the YAML document, None for the whole file
    line: int | None  # 1-based
    path: Path  # the field in the document: ("spec", "add", "tolerations", 0, "operator")
    message: str

    @property
    def field(self) -> str:
        """The path as printed: `spec.add.tolerations[0].operator`."""
        return dotted(self.path)

    def __str__(self) -> str:
        where = [self.file]
        if self.document is not None:
            where.append(f"document {self.document}")
        if self.line is not None:
            where.append(f"line {self.line}")
        field = f"{one_line(self.field)}: " if self.path else ""
        return f"{', '.join(where)}: {field}{one_line(self.message)}"


class PolicyError(Exception):
    """Policy files that cannot be loaded: every problem found, one line each."""

    def __init__(
        self, file: str, doc: int | None, line: int | None, path: Path, message: str
    ) -> None:
        self.problems: tuple[Problem, ...] = (Problem(file, doc, line, path, message),)
        super().__init__(str(self))

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> PolicyError:
        first = problems[0]
        error = cls(first.file, first.document, first.line, first.path, first.message)
        error.problems = tuple(problems)
        error.args = (str(error),)
        return error

    @property
    def first(self) -> Problem:
        return self.problems[0]

    def __str__(self) -> str:
        return "\n".join(map(str, self.problems))


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
