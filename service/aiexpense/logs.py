"""The service's own logs: one line per event, JSON or text, each carrying its request id.

``configure`` installs one handler on the root logger (uvicorn's loggers propagate to it,
so its error and access lines come out the same way). The request id lives in a
contextvar that :mod:`aiexpense.request_id` sets for each HTTP request; the handler's
filter copies it onto every record, so a line logged anywhere while serving a request
(an error, the access log) names the request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
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


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def resolve_format(log_format: str, stream: IO[str]) -> str:
    """``auto`` is JSON unless ``stream`` is a terminal (a person reading, not a collector)."""
    if log_format != "auto":
        return log_format
    return "text" if stream.isatty() else "json"


def configure(level: str = "info", log_format: str = "auto", stream: IO[str] | None = None) -> None:
    """Send every logger's records through one handler on the root logger.

    ``level`` is one of uvicorn's names (``trace`` included); ``log_format`` json, text or auto.
    """
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    json_lines = resolve_format(log_format, stream) == "json"
    handler.setFormatter(JsonFormatter() if json_lines else _TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(LOG_LEVELS[level])
    for name in _CHATTY:
        logging.getLogger(name).setLevel(
            logging.WARNING if root.level > logging.DEBUG else root.level
        )
    logging.captureWarnings(True)  # warnings.warn(...) becomes a line like any other
