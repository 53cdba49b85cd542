"""Structured logs: one JSON object per line, with the fields passed as `extra`."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

# uvicorn adds `color_message` (its message with terminal color codes) to its records.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    lifecycle = logging.getLogger("uvicorn.error")
    lifecycle.filters[:] = [f for f in lifecycle.filters if not isinstance(f, OncePerProcess)]
    lifecycle.addFilter(OncePerProcess())


class OncePerProcess(logging.Filter):
    """uvicorn's lifecycle lines ("Started server process [7]", "Application startup
    complete.", "Shutting down"...) once each: the process runs two uvicorn servers (the
    webhook and the health port), which would log each of them twice. Only info lines: debug
    lines, warnings and errors always pass; and only the first few distinct ones are kept in
    mind (uvicorn has fewer lifecycle lines than that)."""

    REMEMBERED = 64

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or len(self.seen) >= self.REMEMBERED:
            return True
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True
