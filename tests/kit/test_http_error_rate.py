"""An app that uses only the HTTP middleware gets an error rate that counts its 5xx
(issue 18 item 4): every request is the collector's operation ``http_request``, an error
when its status is 5xx; 4xx (the client's fault) and 499 (the client left) are not."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from exporter import HealthChecker, HttpMetricsMiddleware, MetricsCollector, MonitoringHandler
from exporter.health.builtin import ErrorRateCheck
from exporter.health.thresholds import Thresholds
from tests.support import running


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


async def unavailable(request: Request) -> Response:
    return PlainTextResponse("down", status_code=503)


async def boom(request: Request) -> Response:
    raise RuntimeError("the endpoint failed")


def _app(collector: MetricsCollector, **options) -> Starlette:
    handler = MonitoringHandler(HealthChecker(None, collector), collector)
    return Starlette(
        routes=[Route("/ok", ok), Route("/down", unavailable), Route("/boom", boom),
                *handler.routes()],
        middleware=[Middleware(HttpMetricsMiddleware, collector=collector, **options)],
    )  # fmt: skip


def test_5xx_are_the_errors_of_the_system_view_and_the_health_check():
    collector = MetricsCollector(process_metrics=False)
    with running(_app(collector)) as base:
        for path, status, times in (("/ok", 200, 14), ("/down", 503, 3), ("/nope", 404, 2)):
            for _ in range(times):
                assert httpx.get(base + path).status_code == status
        assert httpx.get(base + "/boom").status_code == 500
        system = httpx.get(base + "/monitoring/system").json()
    assert system["total_operations"] == 20  # /monitoring/* itself is not counted
    assert system["total_errors"] == 4
    assert system["error_rate"] == 20.0
    check = ErrorRateCheck(collector, Thresholds(error_min_operations=10))()
    assert check.details["errors"] == 4 and check.details["operations"] == 20
    assert check.status.value == "unhealthy", check.reason  # 20% > 5%


def test_operation_none_keeps_requests_out_of_the_operations():
    collector = MetricsCollector(process_metrics=False)
    with running(_app(collector, operation=None)) as base:
        assert httpx.get(base + "/down").status_code == 503
        assert httpx.get(base + "/monitoring/system").json()["total_operations"] == 0
    labels = {"method": "GET", "route": "/down", "status": "503"}
    assert collector.registry.get_sample_value("http_requests_total", labels) == 1
