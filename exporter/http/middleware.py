"""HttpMetricsMiddleware: requests by method, route template and status, as Prometheus series.

    app = Starlette(routes=..., middleware=[Middleware(HttpMetricsMiddleware, collector=c)])
    app.add_middleware(HttpMetricsMiddleware, collector=c)          # or, the same

The series and their names are in ``exporter.http.naming`` (the kit's by default,
OpenTelemetry's with ``names="otel"``); the options in ``exporter.http.options``.

Every label value is bounded:
- the route is the matched template (``/users/{user_id}``, a mount's
  ``/static/{path}``), read from the scope after the app has routed the request
  (``exporter.http.routes``), or one value for every unmatched request (``unmatched``; or
  not counted at all with ``unmatched="drop"``); never the raw path.
- the method is one of the standard methods, else ``OTHER`` (``_OTHER``).
- the status is the status the app sent, except: ``499`` (nginx's "client closed
  request") when the app saw the client leave before its response was complete (an
  ``http.disconnect`` it received, a send that failed, the server cancelling the request;
  uvicorn drops sends to a closed connection silently, so an app that never listens for
  the disconnect gets its own status counted); ``500`` when an exception escaped the app
  (even after a response had started: the client got a broken response) or the app
  returned without responding (what uvicorn then sends).

Duration and in-progress end when the response's last body chunk has been sent (the
"end of its response", as OpenTelemetry's server span and starlette-exporter's duration
end), so background tasks run after the response count in neither; the request is
counted once the app returns. Every request is also recorded as the collector's
operation ``http_request`` (an error when its status is 5xx), so the error rate that
``/monitoring/system`` and the health ``error_rate`` check judge sees the server's
failures; ``operation=None`` leaves it out.

A pure ASGI middleware (no ``BaseHTTPMiddleware``): it wraps ``send`` and ``receive`` to
see the status and a disconnect, binds the label children it meets once and caches them.
WebSockets and lifespan pass through uncounted, as do paths under ``exclude``
(``/metrics`` and ``/monitoring`` by default), methods in ``skip_methods`` and paths
matching ``skip_paths``.
"""

from __future__ import annotations

import asyncio
import threading
from bisect import bisect_left as _bucket
from collections.abc import Callable, Iterable, Mapping
from re import Pattern
from time import perf_counter, time
from typing import Any, Final

from prometheus_client.samples import Exemplar
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._readback import locked_inc
from ..exemplars import (
    current_exemplar,
    current_trace,
    from_headers,
    read_otel_context,
    read_trace,
)
from ..native.histogram import NativeOptions
from .labels import Label
from .naming import METHODS, SIZE_BUCKETS, URL_SCHEMES
from .options import DEFAULT_EXCLUDE, DEFAULT_OPERATION, HttpOptions
from .routes import UNMATCHED, RouteTemplates
from .series import HasRegistry, Series

_KNOWN_METHODS: Final = frozenset(METHODS)
_URL_SCHEMES: Final = frozenset(URL_SCHEMES)
CLIENT_CLOSED: Final = 499
SERVER_ERROR: Final = 500


class HttpMetricsMiddleware:
    """Counts, times and gauges the HTTP requests of the ASGI app it wraps."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        collector: HasRegistry,
        names: str = "kit",
        buckets: Iterable[float] | None = None,
        exclude: Iterable[str] = DEFAULT_EXCLUDE,
        skip_methods: Iterable[str] = (),
        skip_paths: Iterable[str | Pattern[str]] = (),
        status: str = "code",
        unmatched: str = "group",
        body_sizes: bool = False,
        size_buckets: Iterable[float] = SIZE_BUCKETS,
        labels: Mapping[str, str | Label] | None = None,
        exemplars: bool = True,
        operation: str | None = DEFAULT_OPERATION,
        histogram: str = "classic",
        native: NativeOptions | None = None,
    ) -> None:
        """``names``: ``"kit"`` or ``"otel"`` (see ``exporter.http.naming``). ``buckets``:
        the duration's (default: the scheme's). ``exclude``: path prefixes not counted,
        each matched whole segments at a time (``/monitoring`` covers ``/monitoring/live``,
        not ``/monitoringx``), relative to the app's root path. ``skip_methods``: methods
        not counted; ``skip_paths``: regular expressions, a path (relative to the root
        path) that one matches in full is not counted. ``status``: ``"code"`` (``404``) or
        ``"class"`` (``4xx``). ``unmatched``: ``"group"`` (one route value) or ``"drop"``
        (not counted). ``body_sizes``: request and response body size histograms (bytes,
        ``size_buckets``).
        ``labels``: custom labels (``exporter.http.labels``). ``exemplars``: read
        ``traceparent`` (and OpenTelemetry). ``operation``: the collector operation every
        request is also recorded as (None: none). ``histogram``: ``"classic"``,
        ``"native"`` or ``"both"`` for the duration and body size histograms, ``native``
        their :class:`~exporter.native.NativeOptions` (see the collector's option).

        Bad options raise ``ValueError`` naming the argument. One middleware per registry:
        a second would register the same series twice (prometheus-client refuses)."""
        self.app = app
        self.options = o = HttpOptions.check(
            names=names, buckets=buckets, exclude=exclude, skip_methods=skip_methods,
            skip_paths=skip_paths, status=status, unmatched=unmatched, body_sizes=body_sizes,
            size_buckets=size_buckets, labels=labels, exemplars=exemplars, operation=operation,
            histogram=histogram, native=native,
        )  # fmt: skip
        self._series = Series(collector, o)
        self._bound = self._series.bound
        self._lock = threading.Lock()  # the one writer lock of our one-process values
        self._gauges = {k: locked_inc(g, self._lock) for k, g in self._series.gauges.items()}
        prefixes = tuple(p.rstrip("/") for p in o.exclude)
        self._exclude_exact = frozenset(p or "/" for p in prefixes)
        self._exclude_under = tuple(f"{p}/" for p in prefixes)
        self._skipping = bool(o.skip_methods or o.skip_paths)
        self._otel = o.scheme.url_scheme is not None
        self._other_method = o.scheme.other_method
        self._unmatched = o.scheme.unmatched
        self._drop_unmatched = o.unmatched == "drop"
        self._custom = o.label_names != ()
        self._sized = o.body_sizes
        self._exemplars = o.exemplars
        self._routes = RouteTemplates()
        self._operation = o.operation
        self._record_operation = getattr(collector, "record_operation", None)
        if o.operation is None:
            self._record_operation = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        if path in self._exclude_exact or path.startswith(self._exclude_under):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        if method not in _KNOWN_METHODS:
            method = self._other_method
        if self._skipping and self._skipped(method, path):
            await self.app(scope, receive, send)
            return
        sizes = None
        if self._sized:
            receive, send, sizes = _counting(scope, receive, send)

        trace = from_headers(scope["headers"]) if self._exemplars else None
        token = current_trace.set(trace) if trace is not None else None
        status: int | None = None
        complete = gone = False
        ended = 0.0
        url_scheme = self._url_scheme(scope) if self._otel else ""
        inc = self._gauges[(method, url_scheme) if self._otel else method]

        async def receive_watched() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and not complete:
                gone = True
            return message

        async def send_watched(message: Message) -> None:
            nonlocal status, complete, gone, ended
            if message["type"] == "http.response.start":
                status = message["status"]
            try:
                await send(message)
            except OSError:  # the server could not write it: the client is gone
                gone = True
                raise
            body = message["type"] == "http.response.body"
            if body and not message.get("more_body") and not complete:
                complete = True
                ended = perf_counter()
                inc(-1)

        inc(1)
        started = perf_counter()
        failed = False
        try:
            await self.app(scope, receive_watched, send_watched)
        except asyncio.CancelledError:  # the server gave up on the request
            gone = True
            raise
        except BaseException:  # an OSError of the app's own (a refused upstream) is a 500
            failed = True
            raise
        finally:
            if not complete:
                ended = perf_counter()
                inc(-1)
            if gone:
                code = CLIENT_CLOSED
            elif complete:
                code = status or SERVER_ERROR
            elif failed or status is None:
                code = SERVER_ERROR
            else:
                code = status
            elapsed = ended - started
            counted = sizes() if sizes is not None else None
            self._finish(scope, path, method, code, url_scheme, elapsed, trace, counted)
            if token is not None:
                current_trace.reset(token)

    def _finish(
        self,
        scope: Scope,
        path: str,
        method: str,
        code: int,
        url_scheme: str,
        elapsed: float,
        trace: Any,
        sizes: tuple[int, int] | None,
    ) -> None:
        route = self._routes.template(scope, path)
        if route is UNMATCHED:
            if self._drop_unmatched:
                return
            route = self._unmatched
        if self._exemplars and trace is None:  # an OpenTelemetry span, if any (exemplars)
            trace = read_trace() or (read_otel_context() and current_exemplar())
        if self._custom:
            key: tuple[Any, ...] = (method, route, code, url_scheme, *self._custom_values(scope))
        else:
            key = (method, route, code, url_scheme)
        bound = self._bound.get(key) or self._series.bind(key)
        if bound.observe is not None:  # a native histogram (classic buckets inside, if any)
            if bound.count is not None:
                bound.count(1)
            bound.observe(elapsed, trace)
        else:
            i = _bucket(bound.bounds, elapsed)
            if bound.plain is not None:  # one process: the values, under our one lock
                count, seconds, buckets = bound.plain
                self._lock.acquire()  # (acquire/release: as ``with``, at half its cost)
                try:
                    if count is not None:
                        count._value += 1
                    seconds._value += elapsed
                    buckets[i]._value += 1
                finally:
                    self._lock.release()
            else:
                if bound.count is not None:
                    bound.count(1)
                bound.add(elapsed)
                bound.buckets[i](1)
            if trace:
                if bound.exemplars is not None:
                    # as Histogram.observe(amount, exemplar) does, without its label checks
                    bound.exemplars[i]._exemplar = Exemplar(trace, elapsed, time())
                elif bound.kept is not None:  # several workers: published on the beat
                    bound.kept[i] = Exemplar(trace, elapsed, time())
        if sizes is not None and bound.request_size is not None:
            bound.request_size(sizes[0])
            bound.response_size(sizes[1])
        if self._record_operation is not None:
            self._record_operation(self._operation, elapsed, code >= SERVER_ERROR)

    def _custom_values(self, scope: Scope) -> list[str]:
        values = list(self.options.label_static)
        for i, label in self.options.label_dynamic:
            values[i] = label.value(scope)
        return values

    def _skipped(self, method: str, path: str) -> bool:
        o = self.options
        return method in o.skip_methods or any(p.fullmatch(path) for p in o.skip_paths)

    @staticmethod
    def _url_scheme(scope: Scope) -> str:
        scheme: str = scope.get("scheme", "http")
        return scheme if scheme in _URL_SCHEMES else "other"


Sizes = Callable[[], tuple[int, int]]


def _counting(scope: Scope, receive: Receive, send: Send) -> tuple[Receive, Send, Sizes]:
    """``receive`` and ``send`` counting the body bytes through them, and a function
    returning (request bytes, response bytes): the request's ``content-length`` when it
    has one (what the client sent, read or not), else the bytes the app read."""
    read = written = 0

    async def receive_counted() -> Message:
        nonlocal read
        message = await receive()
        if message["type"] == "http.request":
            read += len(message.get("body", b""))
        return message

    async def send_counted(message: Message) -> None:
        nonlocal written
        if message["type"] == "http.response.body":
            written += len(message.get("body", b""))
        await send(message)

    def sizes() -> tuple[int, int]:
        declared = _content_length(scope)
        return (read if declared is None else declared), written

    return receive_counted, send_counted, sizes


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return max(int(value), 0)
            except ValueError:
                return None
    return None
