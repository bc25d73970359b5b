"""HttpMetricsMiddleware beside two peers used as oracles: starlette-exporter's
PrometheusMiddleware and OpenTelemetry's ASGI instrumentation, all three on the same app
(stacked), under a real uvicorn, over a table of every route kind Starlette and FastAPI
have and of the ways a client leaves.

Each case names the (method, route, status) it must be counted as and the peers that agree.
Where a peer does not, the case says what the peer reports instead, and the test asserts
that too, so a peer that changes its mind shows here:
- OpenTelemetry's plain ASGI middleware reports no ``http.route`` at all (its FastAPI and
  Starlette instrumentations add one): it is compared on method, status and count only;
- starlette-exporter re-matches the request against the app's routes after the app ran
  (FastAPI's nested included routers too, since 0.24), and reports a mounted app by the
  mount's prefix alone (``/static``);
- neither counts a client that left before the response was complete as 499.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx
import pytest

# OpenTelemetry's instrumentation reads the stability opt-in once, when it is first set up:
# ask for the stable HTTP conventions (http.route, http.response.status_code) before then.
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

from fastapi import APIRouter, FastAPI, WebSocket
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Host, Mount, Route, Router, WebSocketRoute
from starlette_exporter import PrometheusMiddleware

from exporter import HttpMetricsMiddleware, MetricsCollector
from tests.support import running, wait_until

Key = tuple[str, str, str]  # (method, route, status)
UNMATCHED = "unmatched"  # ours; starlette-exporter "__unknown__"
ANY_ROUTE = "*"  # OpenTelemetry's ASGI middleware has no route
_prefixes = count()


class Gate:
    """Endpoints that wait: until released, or until the client has gone."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.background_done = threading.Event()

    async def wait_released(self) -> None:
        self.started.set()
        await asyncio.to_thread(self.release.wait, 10)


async def _plain(request: Request) -> Response:
    return PlainTextResponse("ok")


LISTENING = threading.Event()  # /leaves has the request and listens for the disconnect


async def _waits_for_disconnect(request: Request) -> Response:
    """Listens for the client to leave (http.disconnect from receive), then answers 200."""
    LISTENING.set()
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return PlainTextResponse("too late")


async def _drip() -> Any:
    yield b"first chunk\n"
    for _ in range(200):
        await asyncio.sleep(0.05)
        yield b"more\n"


async def _stream(request: Request) -> Response:
    return StreamingResponse(_drip())


async def _echo_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hi")
    await websocket.close()


def _background(gate: Gate) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        async def after() -> None:
            await gate.wait_released()
            gate.background_done.set()

        return PlainTextResponse("answered", background=BackgroundTask(after))

    return endpoint


def starlette_app(gate: Gate) -> Starlette:
    shop = Router([Route("/orders/{order_id}", _plain)])
    app = Starlette(
        routes=[
            Route("/items/{item_id}", _plain),
            Mount("/shop/{shop}", app=shop),
            Mount("/v1", routes=[Mount("/deep", routes=[Route("/x/{y}", _plain)])]),
            Mount("/static", app=PlainTextResponse("a file")),
            Host("api.example.test", app=Router([Route("/hosted/{n}", _plain)])),
            Route("/leaves", _waits_for_disconnect),
            Route("/stream", _stream),
            Route("/background", _background(gate)),
            WebSocketRoute("/ws", _echo_ws),
        ]
    )
    app.add_route("/added/{n}", _plain)
    return app


def fastapi_app(gate: Gate) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> str:
        return item_id

    orders = APIRouter()

    @orders.get("/orders/{order_id}")
    async def order(order_id: str) -> str:
        return order_id

    deep = APIRouter(prefix="/deep")

    @deep.get("/x/{y}")
    async def x(y: str) -> str:
        return y

    shop = APIRouter()
    shop.include_router(orders)
    v1 = APIRouter(prefix="/v1")
    v1.include_router(deep)
    app.include_router(shop, prefix="/shop/{shop}")
    app.include_router(v1)
    app.mount("/static", PlainTextResponse("a file"))
    sub = FastAPI()

    @sub.get("/ping/{n}")
    async def ping(n: str) -> str:
        return n

    app.mount("/sub", sub)
    app.host("api.example.test", Router([Route("/hosted/{n}", _plain)]))
    app.add_route("/added/{n}", _plain)
    app.add_route("/leaves", _waits_for_disconnect)
    app.add_route("/stream", _stream)
    app.add_route("/background", _background(gate))
    app.websocket("/ws")(_echo_ws)
    return app


@dataclass
class Stack:
    """One app with the three middlewares stacked, served; and what each one counted."""

    base: str
    gate: Gate
    collector: MetricsCollector
    prefix: str
    reader: InMemoryMetricReader
    kind: str

    def ours(self) -> Tally[Key]:
        found: Tally[Key] = Tally()
        for metric in self.collector.registry.collect():
            for s in metric.samples:
                if s.name == "t_http_requests_total":
                    key = (s.labels["method"], s.labels["route"], s.labels["status"])
                    found[key] += int(s.value)
        return found

    def starlette_exporter(self) -> Tally[Key]:
        from prometheus_client import REGISTRY

        found: Tally[Key] = Tally()
        for metric in REGISTRY.collect():
            for s in metric.samples:
                if s.name == f"{self.prefix}_requests_total":
                    path = s.labels["path"]
                    key = (s.labels["method"], UNMATCHED if path == "__unknown__" else path,
                           s.labels["status_code"])  # fmt: skip
                    found[key] += int(s.value)
        return found

    def otel(self) -> Tally[Key]:
        found: Tally[Key] = Tally()
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != "http.server.request.duration":
                        continue
                    for point in metric.data.data_points:
                        a = point.attributes
                        assert "http.route" not in a  # see the module docstring
                        key = (str(a["http.request.method"]), ANY_ROUTE,
                               str(a.get("http.response.status_code")))  # fmt: skip
                        found[key] += point.count
        return found

    def otel_durations(self, status: int) -> list[float]:
        data = self.reader.get_metrics_data()
        sums = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == "http.server.request.duration":
                        points = metric.data.data_points
                        code = "http.response.status_code"
                        sums += [p.sum for p in points if p.attributes.get(code) == status]
        return sums


@pytest.fixture(params=["starlette", "fastapi"], scope="module")
def stack(request) -> Iterator[Stack]:
    gate = Gate()
    app = (starlette_app if request.param == "starlette" else fastapi_app)(gate)
    collector = MetricsCollector(namespace="t", process_metrics=False)
    prefix = f"oracle{next(_prefixes)}"
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    # outermost first: every middleware sees the same requests, ours innermost
    app.user_middleware[:0] = [
        Middleware(OpenTelemetryMiddleware, meter_provider=provider),
        Middleware(PrometheusMiddleware, prefix=prefix, group_paths=True,
                   group_unhandled_paths=True, filter_unhandled_paths=False, app_name=prefix),
        Middleware(HttpMetricsMiddleware, collector=collector, exclude=()),
    ]  # fmt: skip
    with running(app) as base:
        yield Stack(base, gate, collector, prefix, reader, request.param)
    gate.release.set()


def _get(path: str, host: str | None = None) -> Callable[[str], None]:
    def go(base: str) -> None:
        headers = {"host": host} if host else {}
        httpx.get(base + path, headers=headers, timeout=10)

    return go


def _leave_before_response(path: str) -> Callable[[str], None]:
    """Send a request and close the connection without reading a byte."""

    def go(base: str) -> None:
        LISTENING.clear()
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            assert LISTENING.wait(10)  # the endpoint runs: the client leaves now

    return go


def _leave_mid_stream(path: str) -> Callable[[str], None]:
    def go(base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            received = b""
            while b"first chunk" not in received:
                chunk = conn.recv(4096)
                assert chunk, "closed before the first chunk"
                received += chunk

    return go


def _websocket(base: str) -> None:
    # a handshake the ASGI app sees as a websocket scope: none of the three counts it
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            (f"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )  # fmt: skip
        assert conn.recv(4096).startswith(b"HTTP/1.1 101")


ALL = frozenset({"starlette_exporter", "otel"})


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[str], None]
    truth: Key | None  # None: not counted at all
    agree: frozenset[str] = ALL
    # what a disagreeing peer reports instead, by app kind ("*": both)
    instead: dict[str, dict[str, Key | None]] = field(default_factory=dict)


CASES = [
    Case("route", _get("/items/1"), ("GET", "/items/{item_id}", "200")),
    Case("add_route", _get("/added/3"), ("GET", "/added/{n}", "200")),
    Case(
        "router in a mount / included router",
        _get("/shop/acme/orders/7"),
        ("GET", "/shop/{shop}/orders/{order_id}", "200"),
    ),
    Case(
        "nested mounts / nested included routers",
        _get("/v1/deep/x/9"),
        ("GET", "/v1/deep/x/{y}", "200"),
    ),
    Case(
        "mounted app",
        _get("/static/logo.png"),
        ("GET", "/static/{path}", "200"),
        agree=frozenset({"otel"}),
        instead={"starlette_exporter": {"*": ("GET", "/static", "200")}},  # the mount's prefix
    ),
    Case("host routing", _get("/hosted/5", host="api.example.test"), ("GET", "/hosted/{n}", "200")),
    Case("no route: 404", _get("/no/such/path"), ("GET", UNMATCHED, "404")),
    Case(
        "client leaves before any response, the app notices",
        _leave_before_response("/leaves"),
        ("GET", "/leaves", "499"),
        agree=frozenset(),
        instead={
            "otel": {"*": ("GET", "/leaves", "200")},
            "starlette_exporter": {"*": ("GET", "/leaves", "200")},
        },
    ),
    Case(
        "client leaves mid-stream",
        _leave_mid_stream("/stream"),
        ("GET", "/stream", "499"),
        agree=frozenset(),
        instead={
            "otel": {"*": ("GET", "/stream", "200")},
            "starlette_exporter": {"*": ("GET", "/stream", "200")},
        },
    ),
    Case("websocket", _websocket, None),
]


def _instead(case: Case, peer: str, kind: str) -> Key | None:
    by_kind = case.instead.get(peer, {})
    return by_kind.get(kind, by_kind.get("*", case.truth))


def _seen_by(peer: str, key: Key | None) -> Tally[Key]:
    """What ``peer`` counts for a request counted as ``key``."""
    if key is None:
        return Tally()
    return Tally([(key[0], ANY_ROUTE, key[2]) if peer == "otel" else key])


def test_every_route_kind_and_disconnect_against_the_oracles(stack):
    # the sub-application (FastAPI only) is a mount too
    cases = list(CASES)
    if stack.kind == "fastapi":
        cases.append(
            Case("mounted FastAPI app", _get("/sub/ping/2"), ("GET", "/sub/ping/{n}", "200"))
        )
    peers = {"starlette_exporter": stack.starlette_exporter, "otel": stack.otel}
    for case in cases:
        before = {"ours": stack.ours(), **{p: read() for p, read in peers.items()}}
        case.run(stack.base)
        if case.truth is not None:
            wait_until(lambda c=case, b=before: stack.ours()[c.truth] == b["ours"][c.truth] + 1)
        time.sleep(0.05) if case.truth is None else None  # nothing to wait for: none counts
        added = {"ours": stack.ours() - before["ours"]}
        expected = Tally([case.truth]) if case.truth else Tally()
        assert added["ours"] == expected, (case.name, added)
        for peer, read in peers.items():
            want = case.truth if peer in case.agree else _instead(case, peer, stack.kind)
            seen = _seen_by(peer, want)
            # a peer may record after ours (its own point in the request's life): wait for it
            with contextlib.suppress(AssertionError):
                wait_until(lambda r=read, b=before[peer], s=seen: r() - b == s, timeout=5)
            added[peer] = read() - before[peer]
            assert added[peer] == seen, (case.name, peer, added[peer])


def test_background_tasks_are_outside_the_duration_and_in_progress(stack):
    gate = stack.gate
    gate.release.clear()
    gate.background_done.clear()
    registry = stack.collector.registry

    def in_progress() -> float:
        return registry.get_sample_value("t_http_requests_in_progress", {"method": "GET"}) or 0

    started = time.perf_counter()
    assert httpx.get(stack.base + "/background", timeout=10).text == "answered"
    assert gate.started.wait(10)
    wait_until(lambda: in_progress() == 0)  # the response is over; its background task is not
    time.sleep(0.3)  # the background task's length, which the duration must not include
    gate.release.set()
    assert gate.background_done.wait(10)
    labels = {"method": "GET", "route": "/background"}
    wait_until(lambda: registry.get_sample_value("t_http_request_duration_seconds_count", labels))
    ours = registry.get_sample_value("t_http_request_duration_seconds_sum", labels)
    assert ours is not None and ours < 0.3 <= time.perf_counter() - started
    # OpenTelemetry's metric runs to the app's return: the background task included
    # OpenTelemetry's metric runs to the app's return: the background task included (the
    # only request over 0.3 s here; its other requests are all 200s too)
    wait_until(lambda: max(stack.otel_durations(200), default=0) >= 0.3)
