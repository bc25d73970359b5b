"""HttpMetricsMiddleware on real uvicorn over loopback, with plain Starlette and with FastAPI.

Each app has path parameters, a mount, refusals before the endpoint (400, 404, 405, 413,
415, 422), an endpoint that raises (500), a streaming endpoint a client abandons (499), a
slow endpoint (in progress), and the kit's /metrics plus a /monitoring route (excluded).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi import Request as FastAPIRequest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, Router

from exporter import HttpMetricsMiddleware, MetricsCollector
from exporter.exposition import MetricsEndpoint
from tests.support import require_tool, running, wait_until

MAX_BODY = 64


class Slow:
    """A request to /slow waits until ``release`` is set (and says when it has started)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    async def wait(self) -> None:
        self.started.set()
        await anyio.to_thread.run_sync(self.release.wait, 10)


async def _drip() -> Any:
    yield b"first chunk\n"
    for _ in range(200):  # 10 s at most, the client is gone long before
        await asyncio.sleep(0.05)
        yield b"more\n"


async def _break_after_first_chunk() -> Any:
    yield b"first chunk\n"
    raise RuntimeError("the stream failed")


async def _read_json(request: Request) -> Any:
    """The refusals an API makes before its handler's work: 415, 413, 400."""
    if request.headers.get("content-type") != "application/json":
        raise HTTPException(415, "expected application/json")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, "body too large")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HTTPException(400, "malformed JSON") from exc


def starlette_app(collector: MetricsCollector, slow: Slow) -> Starlette:
    async def item(request: Request) -> Response:
        return JSONResponse({"id": request.path_params["item_id"]})

    async def create(request: Request) -> Response:
        return JSONResponse(await _read_json(request), status_code=201)

    async def boom(request: Request) -> Response:
        raise RuntimeError("the endpoint failed")

    async def refused(request: Request) -> Response:
        raise ConnectionRefusedError("an upstream refused")  # an OSError, not the client

    async def stream(request: Request) -> Response:
        return StreamingResponse(_drip())

    async def broken(request: Request) -> Response:
        return StreamingResponse(_break_after_first_chunk())

    async def wait(request: Request) -> Response:
        await slow.wait()
        return PlainTextResponse("done")

    async def live(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def order(request: Request) -> Response:
        return JSONResponse({"id": request.path_params["order_id"]})

    nested = Router([Route("/orders/{order_id:int}", order)])
    return Starlette(
        routes=[
            Route("/items/{item_id}", item),
            Route("/items", create, methods=["POST"]),
            Route("/boom", boom),
            Route("/refused", refused),
            Route("/stream", stream),
            Route("/broken", broken),
            Route("/slow", wait),
            Mount("/shop/{shop}", app=nested),
            Mount("/static", app=PlainTextResponse("a file")),
            Route("/monitoring/live", live),
            Route("/metrics", MetricsEndpoint(collector.registry)),
        ],
        middleware=[Middleware(HttpMetricsMiddleware, collector=collector)],
    )


def fastapi_app(collector: MetricsCollector, slow: Slow) -> FastAPI:
    app = FastAPI()
    items = APIRouter(prefix="/items")

    @items.get("/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @items.post("", status_code=201)
    async def create(request: FastAPIRequest) -> Any:
        return await _read_json(request)

    orders = APIRouter()

    @orders.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:  # "abc": FastAPI's 422
        return {"id": order_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the endpoint failed")

    @app.get("/refused")
    async def refused() -> None:
        raise ConnectionRefusedError("an upstream refused")  # an OSError, not the client

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(_drip())

    @app.get("/broken")
    async def broken() -> StreamingResponse:
        return StreamingResponse(_break_after_first_chunk())

    @app.get("/slow")
    async def wait() -> str:
        await slow.wait()
        return "done"

    @app.get("/monitoring/live")
    async def live() -> str:
        return "ok"

    shop = APIRouter()
    shop.include_router(orders)
    app.include_router(items)
    app.include_router(shop, prefix="/shop/{shop}")
    app.mount("/static", PlainTextResponse("a file"))
    app.add_route("/metrics", MetricsEndpoint(collector.registry))
    app.add_middleware(HttpMetricsMiddleware, collector=collector)
    return app


APPS = {"starlette": starlette_app, "fastapi": fastapi_app}


class Served:
    def __init__(self, base: str, slow: Slow) -> None:
        self.base = base
        self.slow = slow
        self.http = httpx.Client(base_url=base, timeout=10)

    def metrics_text(self, openmetrics: bool = False) -> str:
        accept = {"accept": "application/openmetrics-text"} if openmetrics else {}
        response = self.http.get("/metrics", headers=accept)
        assert response.status_code == 200
        return response.text

    def samples(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """{sorted labels: value} of every sample called ``name``."""
        found = {}
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == name:
                    found[tuple(sorted(sample.labels.items()))] = sample.value
        return found

    def requests(self) -> dict[tuple[str, str, str], float]:
        return {
            (dict(k)["method"], dict(k)["route"], dict(k)["status"]): v
            for k, v in self.samples("t_http_requests_total").items()
        }


@pytest.fixture(params=sorted(APPS))
def served(request) -> Iterator[Served]:
    collector = MetricsCollector(namespace="t", process_metrics=False)
    slow = Slow()
    with running(APPS[request.param](collector, slow)) as base:
        yield Served(base, slow)
    slow.release.set()


def test_routes_are_templates_and_every_refusal_is_counted(served):
    http = served.http
    json_header = {"content-type": "application/json"}
    calls = [
        (http.get("/items/1"), 200),
        (http.get("/items/2"), 200),
        (http.post("/items", json={"a": 1}), 201),
        (http.post("/items", content=b"{", headers=json_header), 400),
        (http.post("/items", content=b"x" * (MAX_BODY + 1), headers=json_header), 413),
        (http.post("/items", content=b"a=1"), 415),
        (http.delete("/items/1"), 405),
        (http.get("/shop/acme/orders/7"), 200),
        (http.get("/static/logo.png"), 200),
        (http.get("/no/such/path"), 404),
        (http.get("/no/such/path/either"), 404),
        (http.request("PROPFIND", "/items/1"), 405),
    ]
    for response, expected in calls:
        assert response.status_code == expected, (response.request.url, response.text)

    counted = served.requests()
    expected_counts = {
        ("GET", "/items/{item_id}", "200"): 2,
        ("POST", "/items", "201"): 1,
        ("POST", "/items", "400"): 1,
        ("POST", "/items", "413"): 1,
        ("POST", "/items", "415"): 1,
        ("DELETE", "/items/{item_id}", "405"): 1,
        ("GET", "/shop/{shop}/orders/{order_id}", "200"): 1,
        ("GET", "/static/{path}", "200"): 1,
        ("GET", "unmatched", "404"): 2,
        ("OTHER", "/items/{item_id}", "405"): 1,
    }
    for key, count in expected_counts.items():
        assert counted.get(key) == count, (key, sorted(counted.items()))
    # never a raw path, never a method outside the bounded set
    routes = {route for _, route, _ in counted}
    assert not routes & {"/items/1", "/items/2", "/shop/acme/orders/7", "/no/such/path"}
    assert {method for method, _, _ in counted} <= {"GET", "POST", "DELETE", "OTHER"}
    # the duration histogram has one series per (method, route), counting the same requests
    durations = served.samples("t_http_request_duration_seconds_count")
    assert durations[(("method", "GET"), ("route", "/items/{item_id}"))] == 2


def test_fastapi_validation_refusal_is_a_422_on_its_template(served):
    response = served.http.get("/shop/acme/orders/abc")
    if served.http.get("/openapi.json").status_code != 200:  # plain Starlette: int convertor
        assert response.status_code == 404
        return
    assert response.status_code == 422
    assert served.requests()[("GET", "/shop/{shop}/orders/{order_id}", "422")] == 1


def test_an_exception_is_a_500(served):
    # a connection of its own: uvicorn closes it after an exception escaped the app
    assert httpx.get(f"{served.base}/boom", timeout=10).status_code == 500
    assert httpx.get(f"{served.base}/refused", timeout=10).status_code == 500
    counted = served.requests()
    assert counted[("GET", "/boom", "500")] == 1
    assert counted[("GET", "/refused", "500")] == 1


def test_an_exception_after_the_response_started_is_a_500(served):
    # the client got a 200 status line and half a body: a failed request, not a success
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{served.base}/broken", timeout=10)
    counted = served.requests()
    assert counted[("GET", "/broken", "500")] == 1
    assert ("GET", "/broken", "200") not in counted


def test_a_client_that_disconnects_mid_response_is_a_499(served):
    host, port = served.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
        received = b""
        while b"first chunk" not in received:
            chunk = conn.recv(4096)
            assert chunk, "the server closed before the first chunk"
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
    wait_until(lambda: served.requests().get(("GET", "/stream", "499")) == 1, timeout=10)
    assert ("GET", "/stream", "200") not in served.requests()


def test_in_progress_rises_during_a_request_and_returns_to_zero(served):
    in_progress = 't_http_requests_in_progress{method="GET"}'

    def gauge() -> float:
        (value,) = [
            v for k, v in served.samples("t_http_requests_in_progress").items()
            if dict(k) == {"method": "GET"}
        ]  # fmt: skip
        return value

    assert gauge() == 0, in_progress
    with httpx.Client(base_url=served.base, timeout=10) as other:
        thread = threading.Thread(target=other.get, args=("/slow",))
        thread.start()
        assert served.slow.started.wait(10)
        assert gauge() == 1
        served.slow.release.set()
        thread.join(10)
    wait_until(lambda: gauge() == 0)
    assert served.requests()[("GET", "/slow", "200")] == 1


def test_metrics_and_monitoring_paths_are_not_counted(served):
    assert served.http.get("/monitoring/live").status_code == 200
    assert served.http.get("/items/1").status_code == 200
    served.metrics_text()
    routes = {route for _, route, _ in served.requests()}
    assert routes == {"/items/{item_id}"}, routes
    assert not {r for r in routes if r.startswith(("/metrics", "/monitoring"))}, routes


def test_exemplars_only_in_openmetrics(served):
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    traceparent = f"00-{trace_id}-{span_id}-01"
    assert served.http.get("/items/9", headers={"traceparent": traceparent}).status_code == 200
    exemplar = f'# {{span_id="{span_id}",trace_id="{trace_id}"}}'
    buckets = [
        line
        for line in served.metrics_text(openmetrics=True).splitlines()
        if line.startswith("t_http_request_duration_seconds_bucket{")
        and 'route="/items/{item_id}"' in line
    ]
    assert [line for line in buckets if exemplar in line], buckets
    assert "# {" not in served.metrics_text()


def test_promtool_check_metrics_is_clean(served):
    promtool = require_tool("promtool")
    served.http.get("/items/1")
    served.http.get("/no/such/path")
    httpx.get(f"{served.base}/boom", timeout=10)
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=served.metrics_text(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_an_empty_namespace_and_add_middleware():
    collector = MetricsCollector(process_metrics=False)
    app = Starlette(routes=[Route("/ping", lambda request: PlainTextResponse("pong"))])
    app.add_middleware(HttpMetricsMiddleware, collector=collector, exclude=())
    with running(app) as base:
        assert httpx.get(f"{base}/ping").status_code == 200
    value = collector.registry.get_sample_value(
        "http_requests_total", {"method": "GET", "route": "/ping", "status": "200"}
    )
    assert value == 1


def test_one_router_under_two_prefixes_is_told_apart_by_the_path():
    collector = MetricsCollector(namespace="t", process_metrics=False)

    async def order(request: Request) -> Response:
        return PlainTextResponse("ok")

    shared = Router([Route("/orders/{order_id}", order)])
    app = Starlette(
        routes=[Mount("/shop/{shop}", app=shared), Mount("/outlet", app=shared)],
        middleware=[Middleware(HttpMetricsMiddleware, collector=collector)],
    )
    with running(app) as base, httpx.Client(base_url=base) as http:
        for path in ("/shop/acme/orders/1", "/outlet/orders/2", "/outlet/orders/3"):
            assert http.get(path).status_code == 200

    def count(route: str) -> float | None:
        labels = {"method": "GET", "route": route, "status": "200"}
        return collector.registry.get_sample_value("t_http_requests_total", labels)

    assert count("/shop/{shop}/orders/{order_id}") == 1
    assert count("/outlet/orders/{order_id}") == 2
