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
        field = f"{self.path}: " if self.path else ""
        return f"{', '.join(where)}: {field}{self.message}"


class ReviewError(Exception):
    """A request body that is not a well-formed AdmissionReview (answered with HTTP 400)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
