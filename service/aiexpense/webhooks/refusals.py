"""Refusals: the answers a webhook gives instead of handling a request.

:class:`Refusal` is a request answered with a status and ``{"error", "field"}`` (503 with
``Retry-After``); :class:`Malformed` a signed body that is not the platform's payload;
:func:`ignored` and :func:`ok` the 200 answers. :func:`.serving.serve` turns each into its
JSON answer.

What counts as an error of the webhook operation: a request refused before it was
authenticated (not configured, too large, bad signature), a signed body that is not the
platform's payload (malformed), and a failure of the service (503, so the platform retries).
A valid request that carries no expense, or an event type we do not handle, is a success.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from ..http.faults import RETRY_AFTER_SECONDS


class Refusal(Exception):
    """A request answered with ``status`` and ``{"error", "field"}`` (or, with status 200,
    acknowledged and ignored). ``error`` says whether it counts as an operation error."""

    def __init__(self, status: int, field: str, message: str, *, error: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message
        self.error = error

    def response(self) -> JSONResponse:
        if self.status == 200:
            return ignored(self.message, field=self.field)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if self.status == 503 else None
        return JSONResponse(
            {"error": self.message, "field": self.field}, status_code=self.status, headers=headers
        )


class Malformed(Exception):
    """A signed body that is not the platform's payload. 400, or 200 on a lenient platform."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def ignored(reason: str, *, field: str | None = None) -> JSONResponse:
    """200: the request was authentic and is acknowledged, but nothing is done with it."""
    body: dict[str, Any] = {"ok": True, "ignored": reason}
    if field is not None:
        body["field"] = field
    return JSONResponse(body)


def ok() -> JSONResponse:
    return JSONResponse({"ok": True})
