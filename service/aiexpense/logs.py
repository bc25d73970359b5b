"""The service's own logs: one line per event, JSON or text, each carrying its request id.

``configure`` installs one handler on the root logger (uvicorn's loggers propagate to it,
so its error and access lines come out the same way). The request id lives in a
contextvar that :mod:`aiexpense.http.request_id` sets for each HTTP request; the handler's
filter copies it onto every record, so a line logged anywhere while serving a request
(an error, the access log) names the request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import sys
from contextvars import ContextVar
from typing import IO, Any

from uvicorn.config import LOG_LEVELS

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")  # uvicorn's args
# Libraries whose INFO lines are their own chatter (pgserver logs every initdb/pg_ctl run and
# its whole output): warnings and up only, unless the service runs at debug.
_CHATTY = ("pgserver",)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``: the current request's id, or None outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and for uvicorn's
    access lines client/method/path/http_version/status; a traceback goes in ``exception``
    (one string, so the record stays one line)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            entry["request_id"] = rid
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            entry.update(zip(_ACCESS_FIELDS, args, strict=True))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, with ``-`` for the request id outside a request."""

    def __init__(self, fmt: str = TEXT_FORMAT) -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def resolve_format(log_format: str, stream: IO[str]) -> str:
    """``auto`` is JSON unless ``stream`` is a terminal (a person reading, not a collector)."""
    if log_format != "auto":
        return log_format
    return "text" if stream.isatty() else "json"


def config_dict(level: str = "info", log_format: str = "auto") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` document: every logger through one stderr handler
    on the root logger. Also uvicorn's ``log_config``, so each worker process of
    ``exporter serve --workers`` sets itself up the same way.

    ``level`` is one of uvicorn's names (``trace`` included); ``log_format`` json, text or
    auto (decided here, from this process's stderr, which the workers inherit).
    """
    numeric = LOG_LEVELS[level]
    formatter = "json" if resolve_format(log_format, sys.stderr) == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"json": {"()": JsonFormatter}, "text": {"()": TextFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": formatter,
                "filters": ["request_id"],
            }
        },
        "root": {"level": numeric, "handlers": ["stderr"]},
        "loggers": {
            name: {"level": logging.WARNING if numeric > logging.DEBUG else numeric}
            for name in _CHATTY
        },
    }


def configure(level: str = "info", log_format: str = "auto") -> None:
    """Apply :func:`config_dict` to this process."""
    logging.config.dictConfig(config_dict(level, log_format))
    logging.captureWarnings(True)  # warnings.warn(...) becomes a line like any other
