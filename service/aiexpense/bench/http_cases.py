"""Micro-benchmarks of the HTTP middleware and of exemplars (issue 10), beside their floors.

The middleware cases drive a trivial Starlette endpoint in-process through the ASGI
interface (a scope, ``receive``, ``send``; no network, no server), three ways: bare, with
the kit's ``HttpMetricsMiddleware``, and with starlette-exporter's ``PrometheusMiddleware``
(the ``[bench]`` extra), so what is timed is the app's own CPU per request.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from exporter import HTTP_BUCKETS, HttpMetricsMiddleware, MetricsCollector, current_exemplar
from exporter.exemplars import exemplar_observer, parse_traceparent

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def _item(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _app(*middleware: Middleware) -> Starlette:
    return Starlette(routes=[Route("/items/{item_id}", _item)], middleware=list(middleware))


@functools.cache
def _apps() -> dict[str, Starlette]:
    """Built once per process: starlette-exporter registers in the global registry."""
    from starlette_exporter import PrometheusMiddleware

    collector = MetricsCollector(namespace="bench", process_metrics=False)
    return {
        "bare": _app(),
        "kit": _app(Middleware(HttpMetricsMiddleware, collector=collector)),
        "starlette_exporter": _app(Middleware(PrometheusMiddleware, app_name="bench")),
    }


_SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/items/42",
    "raw_path": b"/items/42",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"bench"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8080),
}
_REQUEST = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> dict[str, Any]:
    return _REQUEST


async def _send(message: dict[str, Any]) -> None:
    return None


def _drive(name: str, loops: int) -> float:
    app = _apps()[name]

    async def run() -> float:
        await app(dict(_SCOPE), _receive, _send)  # warm: routes learnt, children bound
        start = perf_counter()
        for _ in range(loops):
            await app(dict(_SCOPE), _receive, _send)
        return perf_counter() - start

    return asyncio.run(run())


floor_http_bare = functools.partial(_drive, "bare")
kit_http_middleware = functools.partial(_drive, "kit")
ref_http_starlette_exporter = functools.partial(_drive, "starlette_exporter")


# -- exemplars ---------------------------------------------------------------------------


def _child() -> Histogram:
    registry = CollectorRegistry()
    histogram = Histogram("bench_seconds", "x", ["route"], registry=registry, buckets=HTTP_BUCKETS)
    return histogram.labels("/items/{item_id}")


def floor_observe(loops: int) -> float:
    """A cached histogram child's plain ``observe()``."""
    observe = _child().observe
    start = perf_counter()
    for _ in range(loops):
        observe(0.0021)
    return perf_counter() - start


def kit_observe_exemplar(loops: int) -> float:
    """The same observation with a trace present: ``exemplar_observer(child)(v, trace)``."""
    observe = exemplar_observer(_child())
    trace = parse_traceparent(TRACEPARENT)
    start = perf_counter()
    for _ in range(loops):
        observe(0.0021, trace)
    return perf_counter() - start


def ref_observe_exemplar_public(loops: int) -> float:
    """prometheus-client's own ``observe(v, exemplar)`` (validates the labels every call)."""
    observe = _child().observe
    trace = parse_traceparent(TRACEPARENT)
    start = perf_counter()
    for _ in range(loops):
        observe(0.0021, trace)
    return perf_counter() - start


def _nothing() -> None:
    return None


def _time_calls(func: Callable[[], object], loops: int) -> float:
    start = perf_counter()
    for _ in range(loops):
        func()
    return perf_counter() - start


floor_empty_call = functools.partial(_time_calls, _nothing)
kit_current_exemplar_no_trace = functools.partial(_time_calls, current_exemplar)


# name -> (time function, floor name or None)
CASES: dict[str, tuple[Callable[[int], float], str | None]] = {
    "kit.http_middleware": (kit_http_middleware, "floor.http_bare"),
    "ref.http_starlette_exporter": (ref_http_starlette_exporter, "floor.http_bare"),
    "floor.http_bare": (floor_http_bare, None),
    "kit.observe_exemplar": (kit_observe_exemplar, "floor.histogram_observe"),
    "ref.observe_exemplar_public": (ref_observe_exemplar_public, "floor.histogram_observe"),
    "floor.histogram_observe": (floor_observe, None),
    "kit.current_exemplar_no_trace": (kit_current_exemplar_no_trace, "floor.empty_call"),
    "floor.empty_call": (floor_empty_call, None),
}
