"""Structured logs: one JSON object per line, with the fields passed as `extra`."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
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
    lifecycle.filters[:] = [f for f in lifecycle.filters if not isinstance(f, OneServersLifecycle)]
    lifecycle.addFilter(OneServersLifecycle())


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
