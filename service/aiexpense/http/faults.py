"""Faults answered, not crashed on: Starlette exception handlers for the whole app.

* A database fault (psycopg's ``OperationalError``: connection lost, pool timeout, statement
  timeout, server shutting down...; a read-only standby after a failover; our
  :class:`DatabaseUnavailable`) is ``503 {"error": "database unavailable", "detail": ...}``
  with ``Retry-After``. The client may retry: nothing it sent was wrong.
* A client that disconnects mid-body gets nothing (it is gone); the request is logged at
  debug level as 499, nginx's "client closed request", never as a server error.

These are handled responses: Starlette's ``ExceptionMiddleware`` answers them and the
connection stays open for the next request. The kit's catch-all ``Exception`` handler runs
in ``ServerErrorMiddleware`` instead, which re-raises to uvicorn after answering, and
uvicorn then closes the connection: right for a bug, wrong for an outage.
"""

from __future__ import annotations

import logging

import psycopg
import psycopg_pool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ..domain.errors import DatabaseUnavailable
from ..store.db import DATABASE_FAULTS

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
CLIENT_CLOSED_REQUEST = 499


def _detail(exc: Exception) -> str:
    """What a client may be told (psycopg's own text can name internal hosts: logged only)."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return "no database connection became free in time"
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return "the statement timed out"
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return "the database is read-only (failover in progress?)"
    return "the database connection failed"


async def database_unavailable(request: Request, exc: Exception) -> Response:
    detail = _detail(exc)
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, text)
    return JSONResponse(
        {"error": "database unavailable", "detail": detail, "retry_after": RETRY_AFTER_SECONDS},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def client_disconnected(request: Request, exc: Exception) -> Response:
    log.debug("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


FAULT_HANDLERS = {
    **dict.fromkeys(DATABASE_FAULTS, database_unavailable),
    ClientDisconnect: client_disconnected,
}
