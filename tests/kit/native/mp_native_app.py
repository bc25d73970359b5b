"""A kit-only app for ``uvicorn --workers N --factory tests.kit.native.mp_native_app:create_app``
with ``histogram=$KIT_HISTOGRAM`` ("native" or "both"): ``GET /work?v=<seconds>`` records
the operation ``work`` as taking ``v`` seconds (with the request's ``traceparent`` as its
trace), ``/metrics`` serves the server's exposition; ``X-Worker`` names the worker."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from exporter import HttpMetricsMiddleware, MetricsCollector
from exporter.exposition import MetricsEndpoint
from tests.kit.mp_app import WorkerHeader


def create_app() -> WorkerHeader:
    histogram = os.environ["KIT_HISTOGRAM"]
    collector = MetricsCollector(namespace="shop", histogram=histogram)

    async def work(request: Request) -> PlainTextResponse:
        collector.record_operation("work", float(request.query_params["v"]))
        return PlainTextResponse("done")

    metrics = MetricsEndpoint(collector.exposition_registry, shared_dir=collector.multiprocess_dir)
    app = Starlette(
        routes=[Route("/work", work), Route("/metrics", metrics)],
        middleware=[Middleware(HttpMetricsMiddleware, collector=collector, histogram=histogram)],
    )
    return WorkerHeader(app)
