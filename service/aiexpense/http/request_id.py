"""``X-Request-ID``: every HTTP request gets an id, kept for its logs and echoed back.

An incoming id is kept when it is safe to log and to echo (1-128 characters of letters,
digits and ``._~:/+=-``), so a proxy's or a client's id follows the request through; any
other value, or none, is replaced by a new one: 32 hex digits, as ``uuid4().hex`` gave, made
of 16 random ones drawn once per process and a 16-digit count, unique across processes
and restarts without a system call per request (``uuid4`` reads the kernel's random
source every time).
"""

from __future__ import annotations

import itertools
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import request_id

HEADER = b"x-request-id"
_SAFE = re.compile(rb"[A-Za-z0-9._~:/+=-]{1,128}")


class _NewIds:
    """New request ids: a random prefix of this process's own and a running count."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count):016x}"


def incoming_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The first ``X-Request-ID`` header's value, when it is safe; else None."""
    for name, value in headers:
        if name.lower() == HEADER:
            return value.decode("ascii") if _SAFE.fullmatch(value) else None
    return None


class RequestIdMiddleware:
    """Pure ASGI: sets :data:`aiexpense.logs.request_id` and the response's ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._new_id = _NewIds()  # made in the serving process (a forked worker draws its own)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope["headers"]) or self._new_id()
        token = request_id.set(rid)
        ours = (HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                if any(k.lower() == HEADER for k, _ in headers):  # the app's own: ours wins
                    headers = [(k, v) for k, v in headers if k.lower() != HEADER]
                message = {**message, "headers": [*headers, ours]}
            await send(message)

        await self.app(scope, receive, send_with_id)
        # Reset only on a normal return: an exception goes on to Starlette's outermost
        # error handler and uvicorn, which log it, and their lines must still carry the
        # id (each request runs in a task of its own, so the value dies with it).
        request_id.reset(token)
