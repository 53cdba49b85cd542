"""Structured logs: one JSON object per line, with the fields passed as `extra`.

The server writes a line for every review, on the path of every pod creation, so a line is
kept cheap: no lookup of the calling function, thread or process (the line shows none of
them), the time formatted once a second, and the lines logged in one turn of the event loop
written in one system call at its end. A warning or an error is written at once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from contextvars import ContextVar
from typing import Any, TextIO

import orjson

# uvicorn adds `color_message` (its message with terminal color codes) to its records.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def configure_logging(level: str = "info") -> None:
    handler = BatchedStreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    lifecycle = logging.getLogger("uvicorn.error")
    lifecycle.filters[:] = [f for f in lifecycle.filters if not isinstance(f, OneServersLifecycle)]
    lifecycle.addFilter(OneServersLifecycle())
    # What a record would otherwise collect and the JSON line never shows: the caller's file,
    # line and function (a walk up the stack), the thread and the process. The logging
    # documentation's "Optimization" section names these switches.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


# The uvicorn server a log record comes from, set by each server's task (`serve.py`).
SERVER: ContextVar[str] = ContextVar("server", default="")
HEALTH = "health"


class OneServersLifecycle(logging.Filter):
    """uvicorn's lifecycle lines ("Started server process [7]", "Application startup
    complete.", "Shutting down"...) once: a process runs two uvicorn servers, the webhook and
    the health port, which would log each line twice. The health server's info lines are left
    out; its warnings and errors, and every line of the webhook's, pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno != logging.INFO or SERVER.get() != HEALTH


class JsonFormatter(logging.Formatter):
    """A record's `extra` fields become the line's; a record may instead carry them all in one
    `fields` mapping (`extra={"fields": {...}}`), which logging copies into the record in one
    step instead of one per field (the review line has a dozen)."""

    _second = -1
    _time = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._time = second, self.formatTime(record, _TIME_FORMAT)
        entry: dict[str, Any] = {
            "time": self._time,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = vars(record).get("fields")
        if isinstance(fields, dict):
            entry.update(fields)
        else:
            entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    """A stream handler that writes the lines logged on an event loop at the end of the
    loop's turn, all in one write; lines logged elsewhere (start-up, threads) and warnings
    and errors are written at once, after any that wait."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        if record.levelno >= logging.WARNING:
            self._write_pending(record)
        elif len(self._pending) == 1:  # else a write is due at the end of this turn already
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop in this thread
                self._write_pending(record)
            else:
                loop.call_soon(self.flush)

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending(None)
        finally:
            self.release()

    def _write_pending(self, record: logging.LogRecord | None) -> None:
        lines, self._pending = self._pending, []
        if not lines:
            return
        try:
            self.stream.write("".join(lines))
            self.stream.flush()
        except Exception:
            self.handleError(record or logging.makeLogRecord({"msg": "log lines lost"}))
