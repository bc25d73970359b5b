"""``GET /metrics``: prometheus-client's own ASGI app, rendered off the event loop.

prometheus-client already does content negotiation (text or OpenMetrics), gzip and
``name[]`` filtering; we keep all of that by wrapping its app rather than rewriting it.
Its render is synchronous (5-7 ms for our registry), so it runs in a worker thread: a
scrape must never stall the requests being served beside it.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from prometheus_client import make_asgi_app
from prometheus_client.registry import Collector
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send


class MetricsEndpoint:
    """An ASGI endpoint serving ``registry`` in the Prometheus exposition formats."""

    def __init__(self, registry: Collector, *, disable_compression: bool = False) -> None:
        self._app = make_asgi_app(registry, disable_compression=disable_compression)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _decodable(scope):  # prometheus-client would fail decoding them: a 500
            response = JSONResponse({"error": "headers and query must be UTF-8"}, 400)
            await response(scope, receive, send)
            return
        request = await receive()
        replies: list[Message] = []

        async def replay() -> Message:
            return request

        async def keep(message: Message) -> None:
            replies.append(message)

        await anyio.to_thread.run_sync(_run_to_completion, self._app(scope, replay, keep))
        for message in replies:
            await send(message)


def _decodable(scope: Scope) -> bool:
    try:
        scope.get("query_string", b"").decode()
        for _, value in scope.get("headers", ()):
            value.decode()
    except UnicodeDecodeError:
        return False
    return True


def _run_to_completion(coroutine: Any) -> None:
    """Drive a coroutine that never really suspends (its awaits are ``replay``/``keep``)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("the metrics app suspended unexpectedly")
