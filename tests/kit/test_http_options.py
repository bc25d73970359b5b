"""HttpMetricsMiddleware's options, each on a real uvicorn: OpenTelemetry names (checked
against OpenTelemetry's own ASGI middleware on the same requests), custom labels, status
classes, body sizes, skips, unmatched paths; bounded cardinality under random input; and
the errors a bad option raises."""

from __future__ import annotations

import os
import random
import string
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")  # see test_http_oracles

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from exporter import (
    OTEL_BUCKETS,
    HttpMetricsMiddleware,
    MetricsCollector,
    header_label,
    path_label,
    scope_label,
)
from exporter.exposition import MetricsEndpoint
from tests.support import require_tool, running


async def item(request: Request) -> Response:
    return PlainTextResponse("x" * 100)


async def echo(request: Request) -> Response:
    return PlainTextResponse(await request.body(), status_code=201)


async def boom(request: Request) -> Response:
    raise RuntimeError("the endpoint failed")


async def unavailable(request: Request) -> Response:
    return PlainTextResponse("down", status_code=503)


def _app(collector: MetricsCollector, *outer: Middleware, **options: Any) -> Starlette:
    return Starlette(
        routes=[
            Route("/items/{item_id}", item),
            Route("/echo", echo, methods=["POST"]),
            Route("/boom", boom),
            Route("/down", unavailable),
            Mount("/shop/{shop}", routes=[Route("/items/{item_id}", item)]),
            Route("/health", item),
            Route("/metrics", MetricsEndpoint(collector.registry)),
        ],
        middleware=[*outer, Middleware(HttpMetricsMiddleware, collector=collector, **options)],
    )


@contextmanager
def serve(*outer: Middleware, **options: Any) -> Iterator[tuple[httpx.Client, MetricsCollector]]:
    collector = MetricsCollector(namespace="t", process_metrics=False)
    with (
        running(_app(collector, *outer, **options)) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        yield client, collector


def samples(collector: MetricsCollector, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {
        frozenset(s.labels.items()): s.value
        for metric in collector.registry.collect()
        for s in metric.samples
        if s.name == name
    }


def value(collector: MetricsCollector, name: str, **labels: str) -> float | None:
    return collector.registry.get_sample_value(name, labels)


CLOSE = {"connection": "close"}  # uvicorn closes a connection after an exception escaped


# -- OpenTelemetry names ---------------------------------------------------------------------


def _otel_points(reader: InMemoryMetricReader) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "http.server.request.duration"
        for point in metric.data.data_points
    ]


def test_otel_names_are_what_opentelemetry_reports_rendered_for_prometheus():
    reader = InMemoryMetricReader()
    peer = Middleware(OpenTelemetryMiddleware, meter_provider=MeterProvider([reader]))
    with serve(peer, names="otel", exclude=("/metrics",)) as (http, collector):
        for path in ("/items/1", "/items/2", "/boom", "/down", "/no/such"):
            http.get(path, headers=CLOSE)
        http.request("PROPFIND", "/items/1")
        points = _otel_points(reader)  # before /metrics, which OpenTelemetry counts too
        text = http.get("/metrics").text
    ours = samples(collector, "http_server_request_duration_seconds_count")
    # every OpenTelemetry data point, its attributes as Prometheus renders them, is ours
    assert len(points) == 5
    for point in points:
        attrs = {k.replace(".", "_"): str(v) for k, v in point.attributes.items()}
        attrs.pop("network_protocol_version", None)  # recommended, not among ours
        if "http_response_status_code" not in attrs:
            # an exception escaped: OpenTelemetry, inside Starlette's ServerErrorMiddleware,
            # saw no status; the client got the 500 that middleware sends, as ours counts
            attrs |= {"http_response_status_code": "500", "error_type": "500"}
        # OpenTelemetry's plain ASGI middleware knows no route (see test_http_oracles)
        found = [
            (labels, n)
            for labels, n in ours.items()
            if attrs.items() <= labels and ("error_type", attrs.get("error_type", "")) in labels
        ]
        assert sum(n for _, n in found) == point.count, (attrs, ours)
        # and the convention's buckets are OpenTelemetry's own
        assert tuple(point.explicit_bounds) == OTEL_BUCKETS

    def otel(method: str, route: str, status: str, error: str = "") -> frozenset[Any]:
        labels = {"http_request_method": method, "http_route": route, "url_scheme": "http"}
        labels |= {"http_response_status_code": status, "error_type": error}
        return frozenset(labels.items())

    assert ours[otel("GET", "/items/{item_id}", "200")] == 2
    assert ours[otel("GET", "/boom", "500", error="500")] == 1
    assert ours[otel("GET", "/down", "503", error="503")] == 1
    assert ours[otel("GET", "", "404")] == 1  # no route: the convention leaves it out
    assert ours[otel("_OTHER", "/items/{item_id}", "405")] == 1
    assert 'le="7.5"' in text and "http_server_active_requests{" in text
    assert "http_requests_total" not in text  # the count is the histogram's _count


def test_otel_names_pass_promtool():
    promtool = require_tool("promtool")
    with serve(names="otel", body_sizes=True, exclude=("/metrics",)) as (http, _):
        http.get("/items/1")
        http.get("/boom", headers=CLOSE)
        text = http.get("/metrics").text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr


# -- custom labels ---------------------------------------------------------------------------


def _plan(scope: dict[str, Any]) -> str:
    return "pro" if scope["path"].endswith("/1") else "free"


LABELS = {
    "service": "checkout",
    "tenant": header_label("X-Tenant", allowed={"acme", "globex"}),
    "shop": path_label("shop", allowed={"eu"}, other="elsewhere"),
    "plan": scope_label(_plan, allowed={"pro", "free"}),
}


def test_custom_labels_static_header_path_and_callable():
    with serve(labels=LABELS) as (http, collector):
        http.get("/shop/eu/items/1", headers={"x-tenant": "acme"})
        http.get("/shop/us/items/2", headers={"x-tenant": "evil"})
        http.get("/items/3")
    counted = samples(collector, "t_http_requests_total")
    base = {"method": "GET", "status": "200", "service": "checkout"}
    route = "/shop/{shop}/items/{item_id}"
    assert counted[frozenset({**base, "route": route, "tenant": "acme", "shop": "eu",
                              "plan": "pro"}.items())] == 1  # fmt: skip
    assert counted[frozenset({**base, "route": route, "tenant": "other", "shop": "elsewhere",
                              "plan": "free"}.items())] == 1  # fmt: skip
    assert counted[frozenset({**base, "route": "/items/{item_id}", "tenant": "other",
                              "shop": "elsewhere", "plan": "free"}.items())] == 1  # fmt: skip
    durations = samples(collector, "t_http_request_duration_seconds_count")
    assert all(dict(k)["service"] == "checkout" for k in durations)


def test_cardinality_stays_bounded_whatever_a_client_sends():
    rng = random.Random(7)

    def junk(n: int) -> str:
        return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))

    # methods uvicorn's parser accepts (it refuses the ones it does not know itself)
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "PROPFIND", "MKCOL", "PURGE"]
    with serve(labels=LABELS, status="class") as (http, collector):
        for _ in range(300):
            shop = f"/shop/{junk(4)}/items/{junk(6)}"
            path = rng.choice([f"/{junk(8)}/{junk(3)}", f"/items/{junk(12)}", shop, "/shop/eu/x"])
            headers = {"x-tenant": rng.choice(["acme", "globex", junk(10)]), junk(6): junk(20)}
            http.request(rng.choice(methods), path, headers=headers)
    counted = samples(collector, "t_http_requests_total")
    assert sum(counted.values()) == 300
    names = {"method", "route", "status", "service", "tenant", "shop", "plan"}
    values = {n: {dict(k)[n] for k in counted} for n in names}
    assert values["method"] <= {"GET", "POST", "PUT", "DELETE", "PATCH", "OTHER"}
    shop = "/shop/{shop}"
    routes = {"/items/{item_id}", f"{shop}/items/{{item_id}}", f"{shop}/{{path}}", "unmatched"}
    assert values["route"] <= routes
    assert values["status"] <= {"2xx", "4xx", "5xx"}
    assert values["tenant"] <= {"acme", "globex", "other"}
    assert values["shop"] <= {"eu", "elsewhere"}
    assert values["plan"] <= {"pro", "free"}
    assert len(counted) <= 6 * len(routes) * 3 * 3 * 2 * 2


# -- status classes, body sizes, skips, unmatched --------------------------------------------


def test_status_classes():
    with serve(status="class") as (http, collector):
        http.get("/items/1")
        http.get("/down")
        http.get("/nope")
    assert value(collector, "t_http_requests_total", method="GET", route="/items/{item_id}",
                 status="2xx") == 1  # fmt: skip
    assert value(collector, "t_http_requests_total", method="GET", route="/down",
                 status="5xx") == 1  # fmt: skip
    assert value(collector, "t_http_requests_total", method="GET", route="unmatched",
                 status="4xx") == 1  # fmt: skip


def test_body_sizes():
    with serve(body_sizes=True) as (http, collector):
        assert http.post("/echo", content=b"y" * 1000).status_code == 201
        http.get("/items/1")
    post = {"method": "POST", "route": "/echo"}
    assert value(collector, "t_http_request_size_bytes_sum", **post) == 1000
    assert value(collector, "t_http_response_size_bytes_sum", **post) == 1000
    get = {"method": "GET", "route": "/items/{item_id}"}
    assert value(collector, "t_http_request_size_bytes_sum", **get) == 0
    assert value(collector, "t_http_response_size_bytes_sum", **get) == 100
    assert value(collector, "t_http_response_size_bytes_bucket", le="64.0", **get) == 0
    assert value(collector, "t_http_response_size_bytes_bucket", le="256.0", **get) == 1


def test_skip_methods_and_paths():
    with serve(skip_methods=["options", "HEAD"], skip_paths=[r"/health", r"/items/\d+"]) as (
        http,
        collector,
    ):
        http.get("/health")
        http.get("/items/12")
        http.head("/items/abc")
        http.options("/items/abc")
        http.get("/items/abc")
    counted = samples(collector, "t_http_requests_total")
    assert list(counted.values()) == [1.0]
    assert dict(next(iter(counted)))["route"] == "/items/{item_id}"


def test_unmatched_paths_grouped_or_dropped():
    with serve() as (http, collector):
        http.get("/a/b")
        http.get("/c")
    assert value(collector, "t_http_requests_total", method="GET", route="unmatched",
                 status="404") == 2  # fmt: skip
    with serve(unmatched="drop") as (http, collector):
        http.get("/a/b")
        http.get("/items/1")
        assert collector.snapshot()["http_request"].count == 1  # not an operation either
    assert {dict(k)["route"] for k in samples(collector, "t_http_requests_total")} == {
        "/items/{item_id}"
    }


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"names": "prometheus"}, "names: expected one of 'kit', 'otel'"),
        ({"status": "family"}, "status: expected one of 'code', 'class'"),
        ({"unmatched": "keep"}, "unmatched: expected one of 'group', 'drop'"),
        ({"skip_methods": ["FETCH"]}, "skip_methods: expected methods from GET"),
        ({"skip_methods": "GET"}, "skip_methods: expected a list"),
        ({"skip_paths": ["(unclosed"]}, "skip_paths: '(unclosed' is not a regular expression"),
        ({"buckets": [1.0, 0.5]}, "buckets: expected increasing finite bounds"),
        ({"buckets": ["fast"]}, "buckets: expected numbers"),
        ({"size_buckets": []}, "size_buckets: expected increasing finite bounds"),
        ({"exclude": ["metrics"]}, "exclude: expected paths starting with '/'"),
        ({"body_sizes": "yes"}, "body_sizes: expected True or False"),
        ({"operation": "HTTP Request"}, "operation: invalid operation name"),
        ({"labels": {"route": "x"}}, "labels: 'route' is one of the middleware's own labels"),
        ({"labels": {"bad-name": "x"}}, "labels: 'bad-name' is not a Prometheus label name"),
        ({"labels": {"tenant": 3}}, "labels: 'tenant' must be a string or a Label"),
        ({"names": "otel", "labels": {"http_route": "x"}}, "'http_route' is one of the"),
    ],
)
def test_bad_options_raise_naming_the_argument(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        HttpMetricsMiddleware(
            Starlette(), collector=MetricsCollector(process_metrics=False), **options
        )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: header_label("x-tenant", allowed="acme"), "allowed must be a non-empty"),
        (lambda: header_label("x-tenant", allowed=[]), "allowed must be a non-empty"),
        (lambda: header_label("", allowed={"a"}), "header must be a non-empty string"),
        (lambda: path_label("shop", allowed={1}), "allowed must hold only strings"),
        (lambda: scope_label("plan", allowed={"a"}), "func must be callable"),
    ],
)
def test_bad_labels_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()
