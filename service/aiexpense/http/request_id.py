"""``X-Request-ID``: every HTTP request gets an id, kept for its logs and echoed back.

An incoming id is kept when it is safe to log and to echo (1-128 characters of letters,
digits and ``._~:/+=-``), so a proxy's or a client's id follows the request through; any
other value, or none, is replaced by a new random one.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import request_id

HEADER = b"x-request-id"
_SAFE = re.compile(rb"[A-Za-z0-9._~:/+=-]{1,128}")


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope["headers"]) or uuid.uuid4().hex
        token = request_id.set(rid)
        encoded = rid.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, encoded)]}
            await send(message)

        await self.app(scope, receive, send_with_id)
        # Reset only on a normal return: an exception goes on to Starlette's outermost
        # error handler and uvicorn, which log it, and their lines must still carry the
        # id (each request runs in a task of its own, so the value dies with it).
        request_id.reset(token)
