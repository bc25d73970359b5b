"""``GET /metrics``: the Prometheus exposition, rendered once however many scrape at once.

prometheus-client does the formats: ``choose_encoder`` negotiates text or OpenMetrics from
``Accept``, ``restricted_registry`` serves ``?name[]=`` filters. What we add is the sharing:
a render is synchronous (5-7 ms for a few dozen operations, far more with several workers),
so it runs in a worker thread, and concurrent scrapes of the same variant wait for the same
render instead of each starting one (in a thread, each would still take the GIL from the
requests being served). A render is then reused until three times its own duration has
passed (however many scrape back to back, rendering takes at most a quarter of the process's
time, and a scrape is at most that stale: 20 ms at 28 operations), or for ``cache_seconds``
when that is longer.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

_Key = tuple[str, tuple[str, ...], bool]
SPACING = 3.0  # a render is reused until this many times its own duration has passed


class MetricsEndpoint:
    """An ASGI endpoint serving ``registry`` in the Prometheus exposition formats."""

    def __init__(
        self,
        registry: Collector,
        *,
        disable_compression: bool = False,
        cache_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= cache_seconds < float("inf"):
            raise ValueError(f"cache_seconds: must be >= 0, got {cache_seconds!r}")
        self._registry = registry
        self._compress = not disable_compression
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._done: dict[_Key, tuple[float, bytes]] = {}
        self._running: dict[_Key, asyncio.Future[bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)  # latin-1, as HTTP has it: no header is undecodable
        accept, encoding = headers.get("accept", ""), headers.get("accept-encoding", "")
        names = tuple(
            QueryParams(scope.get("query_string", b"").decode("latin-1")).getlist("name[]")
        )
        encoder, content_type = choose_encoder(accept)
        gzipped = self._compress and "gzip" in encoding.lower()
        body = await self._body((content_type, names, gzipped), encoder)
        extra = {"Content-Encoding": "gzip"} if gzipped else {}
        await Response(body, media_type=content_type, headers=extra)(scope, receive, send)

    async def _body(self, key: _Key, encoder: Callable[[Any], bytes]) -> bytes:
        done = self._done.get(key)
        if done is not None and self._clock() < done[0]:
            return done[1]
        running = self._running.get(key)
        if running is not None:  # someone is rendering this variant right now: share it
            return await asyncio.shield(running)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            began = self._clock()
            body = await anyio.to_thread.run_sync(self._render, key, encoder)
            future.set_result(body)
            ended = self._clock()
            self._done[key] = (ended + max(self._cache_seconds, SPACING * (ended - began)), body)
            return body
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._running[key]

    def _render(self, key: _Key, encoder: Callable[[Any], bytes]) -> bytes:
        _, names, gzipped = key
        registry: Any = self._registry
        if names:
            registry = registry.restricted_registry(names)
        output = encoder(registry)
        return gzip.compress(output) if gzipped else output
