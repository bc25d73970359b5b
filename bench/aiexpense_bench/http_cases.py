"""Micro-benchmarks of the HTTP middleware and of exemplars (issue 10), beside their floors.

The middleware cases drive a trivial Starlette endpoint in-process, three ways: bare, with
the kit's ``HttpMetricsMiddleware``, and with starlette-exporter's ``PrometheusMiddleware``
(the ``[bench]`` extra); no network anywhere.
- ``*.http_*``: through the ASGI interface alone (a scope, ``receive``, ``send``): the app's
  own CPU per request.
- ``*.uvicorn_*``: the same request as bytes fed to uvicorn's httptools protocol on a
  keep-alive connection whose transport is a buffer: the server's CPU per request (HTTP
  parsing, the request task, the app) without the kernel's share of a socket.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from time import process_time
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry, Histogram
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from exporter import HTTP_BUCKETS, HttpMetricsMiddleware, MetricsCollector, current_exemplar
from exporter.exemplars import exemplar_observer, parse_traceparent

# CPU time of this process, not wall time: what the goals are about ("server CPU per
# request"), and on a shared machine it leaves out the time the process waits for a core.
_cpu = process_time

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
        start = _cpu()
        for _ in range(loops):
            await app(dict(_SCOPE), _receive, _send)
        return _cpu() - start

    return asyncio.run(run())


class _Buffer(asyncio.Transport):
    """A transport that keeps nothing: what uvicorn writes is dropped."""

    _INFO: ClassVar[dict[str, Any]] = {
        "sockname": ("127.0.0.1", 8080),
        "peername": ("127.0.0.1", 50000),
    }

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._INFO.get(name, default)

    def write(self, data: Any) -> None:
        return None

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def close(self) -> None:
        return None


_RAW_REQUEST = b"GET /items/42 HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"


def _drive_uvicorn(name: str, loops: int) -> float:
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    logging.getLogger("uvicorn.access").disabled = True
    config = uvicorn.Config(_apps()[name], http="httptools", lifespan="off", access_log=False)
    config.load()

    async def run() -> float:
        state = ServerState()
        protocol = HttpToolsProtocol(config, state, {}, asyncio.get_running_loop())
        protocol.connection_made(_Buffer())

        async def one() -> None:
            protocol.data_received(_RAW_REQUEST)
            await asyncio.gather(*state.tasks)  # the request's task, until its response ends

        await one()
        start = _cpu()
        for _ in range(loops):
            await one()
        elapsed = _cpu() - start
        protocol.connection_lost(None)
        return elapsed

    return asyncio.run(run())


floor_http_bare = functools.partial(_drive, "bare")
kit_http_middleware = functools.partial(_drive, "kit")
ref_http_starlette_exporter = functools.partial(_drive, "starlette_exporter")
floor_uvicorn_bare = functools.partial(_drive_uvicorn, "bare")
kit_uvicorn_middleware = functools.partial(_drive_uvicorn, "kit")
ref_uvicorn_starlette_exporter = functools.partial(_drive_uvicorn, "starlette_exporter")


# -- exemplars ---------------------------------------------------------------------------


def _child() -> Histogram:
    registry = CollectorRegistry()
    histogram = Histogram("bench_seconds", "x", ["route"], registry=registry, buckets=HTTP_BUCKETS)
    return histogram.labels("/items/{item_id}")


def floor_observe(loops: int) -> float:
    """A cached histogram child's plain ``observe()``."""
    observe = _child().observe
    start = _cpu()
    for _ in range(loops):
        observe(0.0021)
    return _cpu() - start


def kit_observe_exemplar(loops: int) -> float:
    """The same observation with a trace present: ``exemplar_observer(child)(v, trace)``."""
    observe = exemplar_observer(_child())
    trace = parse_traceparent(TRACEPARENT)
    start = _cpu()
    for _ in range(loops):
        observe(0.0021, trace)
    return _cpu() - start


def ref_observe_exemplar_public(loops: int) -> float:
    """prometheus-client's own ``observe(v, exemplar)`` (validates the labels every call)."""
    observe = _child().observe
    trace = parse_traceparent(TRACEPARENT)
    start = _cpu()
    for _ in range(loops):
        observe(0.0021, trace)
    return _cpu() - start


def _nothing() -> None:
    return None


def _time_calls(func: Callable[[], object], loops: int) -> float:
    start = _cpu()
    for _ in range(loops):
        func()
    return _cpu() - start


floor_empty_call = functools.partial(_time_calls, _nothing)
kit_current_exemplar_no_trace = functools.partial(_time_calls, current_exemplar)


# name -> (time function, floor name or None)
CASES: dict[str, tuple[Callable[[int], float], str | None]] = {
    "kit.http_middleware": (kit_http_middleware, "floor.http_bare"),
    "ref.http_starlette_exporter": (ref_http_starlette_exporter, "floor.http_bare"),
    "floor.http_bare": (floor_http_bare, None),
    "kit.uvicorn_middleware": (kit_uvicorn_middleware, "floor.uvicorn_bare"),
    "ref.uvicorn_starlette_exporter": (ref_uvicorn_starlette_exporter, "floor.uvicorn_bare"),
    "floor.uvicorn_bare": (floor_uvicorn_bare, None),
    "kit.observe_exemplar": (kit_observe_exemplar, "floor.histogram_observe"),
    "ref.observe_exemplar_public": (ref_observe_exemplar_public, "floor.histogram_observe"),
    "floor.histogram_observe": (floor_observe, None),
    "kit.current_exemplar_no_trace": (kit_current_exemplar_no_trace, "floor.empty_call"),
    "floor.empty_call": (floor_empty_call, None),
}


# -- a paired run: each case beside its floor, alternating ---------------------------------

# (case, floor): a round times the case and its floor back to back (``interleaved.rounds``),
# so a shared machine's drift hits both; the median of the rounds' differences is reported.
PAIRS = (
    ("kit.http_middleware", "floor.http_bare"),
    ("ref.http_starlette_exporter", "floor.http_bare"),
    ("kit.uvicorn_middleware", "floor.uvicorn_bare"),
    ("ref.uvicorn_starlette_exporter", "floor.uvicorn_bare"),
    ("kit.observe_exemplar", "floor.histogram_observe"),
    ("ref.observe_exemplar_public", "floor.histogram_observe"),
    ("kit.current_exemplar_no_trace", "floor.empty_call"),
)


def paired(rounds: int = 15, seconds: float = 0.1) -> dict[str, dict[str, float]]:
    """case -> {"floor", "case", "added"} median seconds per op over ``rounds`` rounds."""
    from statistics import median

    from .interleaved import rounds as alternate  # (it imports this module, via the suite)

    found = {}
    for case, floor in PAIRS:
        timed = alternate(CASES[case][0], CASES[floor][0], rounds, seconds)
        added = [a - b for a, b in zip(timed["case"], timed["floor"], strict=True)]
        found[case] = {
            "floor": median(timed["floor"]),
            "case": median(timed["case"]),
            "added": median(added),
        }
    return found


def main() -> None:
    """``python -m aiexpense_bench.http_cases``: the paired run, as ratios."""
    found = paired()
    for case, t in found.items():
        print(
            f"{case:32} {t['case'] * 1e6:8.3f} us  floor {t['floor'] * 1e6:8.3f} us"
            f"  ratio {t['case'] / t['floor']:5.2f}x  added {t['added'] * 1e6:+7.3f} us"
        )
    for kit, ref in (
        ("kit.http_middleware", "ref.http_starlette_exporter"),
        ("kit.uvicorn_middleware", "ref.uvicorn_starlette_exporter"),
    ):
        share = found[kit]["added"] / found[ref]["added"]
        print(f"{kit} added cost / {ref} added cost: {share:.2f}")


if __name__ == "__main__":
    main()
