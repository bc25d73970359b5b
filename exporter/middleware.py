"""HttpMetricsMiddleware: requests by method, route template and status, as Prometheus series.

    app = Starlette(routes=..., middleware=[Middleware(HttpMetricsMiddleware, collector=c)])
    app.add_middleware(HttpMetricsMiddleware, collector=c)          # or, the same

Series, in ``collector.registry`` under ``collector.namespace``:
- ``<ns>_http_requests_total{method,route,status}``
- ``<ns>_http_request_duration_seconds{method,route}`` (histogram, with trace exemplars)
- ``<ns>_http_requests_in_progress{method}`` (gauge; ``livesum`` in multiprocess mode)

Every label value is bounded:
- ``route`` is the matched template (``/users/{user_id}``, a mount's ``/static/{path}``),
  read from the scope after the app has routed the request (``exporter._routes``), or
  ``unmatched`` when no route matched; never the raw path.
- ``method`` is one of the standard methods, else ``OTHER``.
- ``status`` is the status the app sent; ``499`` (nginx's "client closed request") when the
  client went away before the response was complete, as far as the server tells the app
  (an ``http.disconnect`` the app received, a send that failed, the server cancelling the
  request: uvicorn drops sends to a closed connection silently, so an app that never
  listens for the disconnect gets its own status counted); ``500`` when an exception escaped
  the app (even after a response had started: the client got a broken response) or the
  app returned without responding (what uvicorn then sends).

A pure ASGI middleware (no ``BaseHTTPMiddleware``): it wraps ``send`` and ``receive`` to
see the status and a disconnect, binds the label children it meets once and caches them.
Refusals made before an endpoint runs (400, 404, 405, 413, 415, 422) go through it like
any response. Paths under ``exclude`` (``/metrics`` and ``/monitoring`` by default) are
passed through untouched and uncounted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._names import metric_name
from ._routes import RouteTemplates
from .exemplars import (
    Observe,
    TraceExemplar,
    current_exemplar,
    current_trace,
    exemplar_observer,
    from_headers,
)

# 1 ms .. 10 s: a cached read through a slow upstream call.
HTTP_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
_KNOWN_METHODS: Final = frozenset(METHODS)
OTHER_METHOD: Final = "OTHER"
DEFAULT_EXCLUDE: Final = ("/metrics", "/monitoring")
CLIENT_CLOSED: Final = 499
SERVER_ERROR: Final = 500

_Record = tuple[Callable[[], None], Observe]


class HasRegistry(Protocol):
    """What the middleware needs of a collector: where to register, and under what name."""

    @property
    def registry(self) -> CollectorRegistry: ...

    @property
    def namespace(self) -> str: ...


class HttpMetricsMiddleware:
    """Counts, times and gauges the HTTP requests of the ASGI app it wraps."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        collector: HasRegistry,
        buckets: Iterable[float] = HTTP_BUCKETS,
        exclude: Iterable[str] = DEFAULT_EXCLUDE,
        exemplars: bool = True,
    ) -> None:
        """``exclude``: path prefixes not counted, each matched whole segments at a time
        (``/monitoring`` covers ``/monitoring/live``, not ``/monitoringx``), relative to
        the app's root path. ``exemplars``: read ``traceparent`` (and OpenTelemetry).
        One middleware per registry: a second one would register the same series twice
        (prometheus-client refuses with ``ValueError``)."""
        self.app = app
        registry, ns = collector.registry, collector.namespace
        self._requests = Counter(
            metric_name(ns, "http_requests"),
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=registry,
        )
        self._duration = Histogram(
            metric_name(ns, "http_request_duration_seconds"),
            "Time from a request's arrival to the end of its response, by route template.",
            ("method", "route"),
            registry=registry,
            buckets=tuple(buckets),
        )
        in_progress = Gauge(
            metric_name(ns, "http_requests_in_progress"),
            "HTTP requests being served right now.",
            ("method",),
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._in_progress = {m: in_progress.labels(m) for m in (*METHODS, OTHER_METHOD)}
        prefixes = tuple(p.rstrip("/") for p in exclude)
        self._exclude_exact = frozenset(p or "/" for p in prefixes)
        self._exclude_under = tuple(f"{p}/" for p in prefixes)
        self._exemplars = exemplars
        self._routes = RouteTemplates()
        self._records: dict[tuple[str, str, int], _Record] = {}

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
            method = OTHER_METHOD
        trace = from_headers(scope["headers"]) if self._exemplars else None
        token = current_trace.set(trace) if trace is not None else None
        status: int | None = None
        complete = gone = False

        async def receive_watched() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "http.disconnect" and not complete:
                gone = True
            return message

        async def send_watched(message: Message) -> None:
            nonlocal status, complete, gone
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            try:
                await send(message)
            except OSError:  # the server could not write it: the client is gone
                gone = True
                raise
            if kind == "http.response.body" and not message.get("more_body", False):
                complete = True

        gauge = self._in_progress[method]
        gauge.inc()
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
            elapsed = perf_counter() - started
            gauge.dec()
            if complete:
                label = status or SERVER_ERROR
            elif gone:
                label = CLIENT_CLOSED
            elif failed or status is None:
                label = SERVER_ERROR
            else:
                label = status
            if self._exemplars and trace is None:
                trace = current_exemplar()  # an OpenTelemetry span, if any
            self._record(method, self._routes.template(scope, path), label, elapsed, trace)
            if token is not None:
                current_trace.reset(token)

    def _record(
        self,
        method: str,
        route: str,
        status: int,
        elapsed: float,
        trace: TraceExemplar | None,
    ) -> None:
        key = (method, route, status)
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = (
                self._requests.labels(method, route, str(status)).inc,
                exemplar_observer(self._duration.labels(method, route)),
            )
        inc, observe = record
        inc()
        observe(elapsed, trace)
