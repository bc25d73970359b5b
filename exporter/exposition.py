"""``GET /metrics``: the Prometheus exposition, rendered once however many scrape at once.

prometheus-client does the text formats: ``choose_encoder`` negotiates text or OpenMetrics
from ``Accept``. A scraper that prefers the protobuf format (Prometheus with
``--enable-feature=native-histograms``) gets it (``exporter.native``: native histograms
travel only there); ``?name[]=`` filters keep native histograms whole (``native.restrict``).
What we add is the sharing: a render is synchronous (5-7 ms for a few dozen operations, far
more with several workers), so it runs in a worker thread, and concurrent scrapes of the
same variant wait for the same render instead of each starting one (in a thread, each would
still take the GIL from the requests being served). A render is then reused until three
times its own duration has passed (however many scrape back to back, rendering takes at
most a quarter of the process's time, and a scrape is at most that stale: 20 ms at 28
operations), or for ``cache_seconds`` when that is longer.

With several worker processes (``shared_dir``, prometheus-client's multiprocess directory) the
render is shared by the whole server through a file per variant: renders take turns under a
``flock``, and every scrape is answered with the newest render there is, read after the scrape
arrived. Per-process caches would let two scrapes in a row, answered by two workers with
renders of different ages, see a counter go backwards; a shared one cannot, and a scrape storm
spread over N workers still renders once per window, not N times. (Filtered scrapes,
``?name[]=``, whose variants are the callers' to choose, stay in each process's memory.)
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client.registry import Collector
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._reuse import SPACING, Flights
from .multiprocess import RENDER_SUFFIX, locked
from .native.exposition import choose_native_encoder
from .native.restrict import Restricted

_Key = tuple[str, tuple[str, ...], bool]
_Render = tuple[float, bytes]  # until when it may be reused (on ``clock``), and the body
_DEADLINE = struct.Struct("d")


class RenderStore(Protocol):
    """Where finished renders are kept for reuse."""

    def get(self, key: _Key) -> _Render | None:
        """The newest render of ``key``, if any."""

    def render(self, key: _Key, produce: Callable[[], _Render]) -> _Render:
        """A fresh render of ``key``: ``produce()``'s, kept for the next ``get``."""


class MemoryRenders:
    """One process's renders, of at most ``variants`` variants (the oldest go first: a
    ``name[]`` filter is the caller's choice, so variants are not bounded by us)."""

    def __init__(self, variants: int = 64) -> None:
        self._done: dict[_Key, _Render] = {}
        self._variants = variants

    def get(self, key: _Key) -> _Render | None:
        return self._done.get(key)

    def render(self, key: _Key, produce: Callable[[], _Render]) -> _Render:
        done = produce()
        self._done.pop(key, None)
        self._done[key] = done
        while len(self._done) > self._variants:
            del self._done[next(iter(self._done))]
        return done


class SharedRenders:
    """Every process's renders, a file per variant in ``directory``; ``clock`` must be the
    same in every process (``time.monotonic`` is, on one host).

    Renders take turns under the variant's ``flock`` and one still fresh when its turn
    comes is taken instead of rendering again, so the file only ever moves forward.
    """

    def __init__(self, directory: str, clock: Callable[[], float]) -> None:
        self._directory = directory
        self._clock = clock
        self._paths: dict[_Key, str] = {}  # a few variants: content type and compression

    def _path(self, key: _Key) -> str:
        path = self._paths.get(key)
        if path is None:
            digest = hashlib.blake2b(repr(key).encode(), digest_size=8).hexdigest()
            path = self._paths[key] = os.path.join(
                self._directory, f"exposition_{digest}{RENDER_SUFFIX}"
            )
        return path

    def get(self, key: _Key) -> _Render | None:
        try:
            with open(self._path(key), "rb") as f:  # the page cache: microseconds
                data = f.read()
        except FileNotFoundError:
            return None
        if len(data) < _DEADLINE.size:  # not ours (ours are replaced whole)
            return None
        return _DEADLINE.unpack_from(data)[0], data[_DEADLINE.size :]

    def render(self, key: _Key, produce: Callable[[], _Render]) -> _Render:
        path = self._path(key)
        with locked(self._directory, name=f".{os.path.basename(path)}.lock", exclusive=True):
            done = self.get(key)
            if done is not None and self._clock() < done[0]:
                return done  # another worker's, finished while this one waited
            done = produce()
            temporary = f"{path}.{os.getpid()}.tmp"
            try:
                with open(temporary, "wb") as f:
                    f.write(_DEADLINE.pack(done[0]) + done[1])
                os.replace(temporary, path)
            except OSError:  # the directory is full: serve it unshared (newer than the file)
                with contextlib.suppress(OSError):
                    os.remove(temporary)
            return done


class MetricsEndpoint:
    """An ASGI endpoint serving ``registry`` in the Prometheus exposition formats.

    ``shared_dir``: the multiprocess directory, when several processes serve one server."""

    def __init__(
        self,
        registry: Collector,
        *,
        disable_compression: bool = False,
        cache_seconds: float = 0.0,
        shared_dir: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= cache_seconds < float("inf"):
            raise ValueError(f"cache_seconds: must be >= 0, got {cache_seconds!r}")
        self._registry = registry
        self._compress = not disable_compression
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._memory = MemoryRenders()
        # Shared: the variants Prometheus asks for. Filtered ones (``name[]``), whose number
        # is the callers' to choose, stay in this process's bounded memory.
        self._shared = None if shared_dir is None else SharedRenders(shared_dir, clock)
        self._flights = Flights()  # concurrent scrapes of one variant share its render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)  # latin-1, as HTTP has it: no header is undecodable
        accept, encoding = headers.get("accept", ""), headers.get("accept-encoding", "")
        names = tuple(
            QueryParams(scope.get("query_string", b"").decode("latin-1")).getlist("name[]")
        )
        encoder, content_type = choose_native_encoder(accept)
        gzipped = self._compress and "gzip" in encoding.lower()
        body = await self._body((content_type, names, gzipped), encoder)
        extra = {"Content-Encoding": "gzip"} if gzipped else {}
        await Response(body, media_type=content_type, headers=extra)(scope, receive, send)

    def _store(self, key: _Key) -> RenderStore:
        return self._memory if self._shared is None or key[1] else self._shared

    async def _body(self, key: _Key, encoder: Callable[[Any], bytes]) -> bytes:
        store = self._store(key)
        done = store.get(key)
        if done is not None and self._clock() < done[0]:
            return done[1]
        _, body = await self._flights.run(
            key, lambda: store.render(key, lambda: self._timed(key, encoder))
        )
        return body

    def _timed(self, key: _Key, encoder: Callable[[Any], bytes]) -> _Render:
        began = self._clock()
        body = self._render(key, encoder)
        ended = self._clock()
        return ended + max(self._cache_seconds, SPACING * (ended - began)), body

    def _render(self, key: _Key, encoder: Callable[[Any], bytes]) -> bytes:
        _, names, gzipped = key
        registry: Any = self._registry
        if names:
            registry = Restricted(registry, names)
        output = encoder(registry)
        return gzip.compress(output) if gzipped else output
