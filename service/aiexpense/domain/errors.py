"""What the service raises when a caller asks for something it cannot do.

Each error names the field at fault, so the JSON API can answer
``{"error": "...", "field": "amount"}`` and a webhook can tell the user what to fix.
These are outcomes caused by the caller, not failures of the service: operation timers
record them as successes, so a client sending bad input cannot push the error rate (and
with it readiness) over a threshold.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: a request the service refused, with the field that caused it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidField(ServiceError):
    """A value is missing, of the wrong type, or out of range."""


class NotFound(ServiceError):
    """The user or expense a field refers to does not exist."""


class JobQueueFull(RuntimeError):
    """The job queue is at capacity: the caller decides whether to drop or do it inline."""


class JobQueueClosed(RuntimeError):
    """The job queue is not running (not started yet, or shutting down)."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot serve this request now (not migrated yet, or it did not answer in
    time). Like psycopg's ``OperationalError`` it is answered 503 with ``Retry-After``."""
