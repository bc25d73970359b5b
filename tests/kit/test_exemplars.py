"""Exemplars: traceparent parsing, the current trace, the OpenTelemetry fallback, the
exposition, and a real Prometheus (exemplar storage on) storing the trace of a request."""

from __future__ import annotations

import math
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from exporter import HttpMetricsMiddleware, MetricsCollector, current_exemplar, parse_traceparent
from exporter.exemplars import current_trace, exemplar_observer
from exporter.exposition import MetricsEndpoint
from tests.support import prometheus_daemon, running, wait_until

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"


# -- traceparent ---------------------------------------------------------------------------


def test_a_valid_traceparent():
    assert parse_traceparent(VALID) == {"trace_id": TRACE_ID, "span_id": SPAN_ID}
    assert parse_traceparent(VALID.encode()) == {"trace_id": TRACE_ID, "span_id": SPAN_ID}
    assert parse_traceparent(f"  {VALID}\t") == {"trace_id": TRACE_ID, "span_id": SPAN_ID}
    # a later version may append fields after a dash; its first four are read
    assert parse_traceparent(f"01-{TRACE_ID}-{SPAN_ID}-03-future") == {
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
    }


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        f"00-{TRACE_ID}-{SPAN_ID}",  # no flags
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 has exactly four fields
        f"ff-{TRACE_ID}-{SPAN_ID}-01",  # version ff is forbidden
        f"00-{'0' * 32}-{SPAN_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",  # lowercase hex only
        f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",  # 31 hex digits
        f"00-{TRACE_ID}-{SPAN_ID}0-01",  # 17 hex digits
        f"00-{TRACE_ID}-{SPAN_ID}-0g",
        f"0-{TRACE_ID}-{SPAN_ID}-01",
        f"00_{TRACE_ID}_{SPAN_ID}_01",
        b"00-\xff",
    ],
)
def test_an_invalid_traceparent_is_no_trace(value):
    assert parse_traceparent(value) is None


def test_an_unsampled_trace_is_no_exemplar():
    assert parse_traceparent(f"00-{TRACE_ID}-{SPAN_ID}-00") is None
    assert parse_traceparent(f"00-{TRACE_ID}-{SPAN_ID}-02") is None


# -- the current trace ---------------------------------------------------------------------


def test_current_exemplar_is_the_request_trace_else_none():
    assert current_exemplar() is None
    token = current_trace.set(parse_traceparent(VALID))
    try:
        assert current_exemplar() == {"trace_id": TRACE_ID, "span_id": SPAN_ID}
    finally:
        current_trace.reset(token)
    assert current_exemplar() is None


def _span(trace_id: int, span_id: int, sampled: bool = True) -> NonRecordingSpan:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags))


def test_current_exemplar_falls_back_to_the_active_opentelemetry_span():
    with trace.use_span(_span(0xABC, 0x12)):
        assert current_exemplar() == {"trace_id": f"{0xABC:032x}", "span_id": f"{0x12:016x}"}
        # the request's own traceparent comes first
        token = current_trace.set(parse_traceparent(VALID))
        try:
            assert current_exemplar() == {"trace_id": TRACE_ID, "span_id": SPAN_ID}
        finally:
            current_trace.reset(token)
    with trace.use_span(_span(0xABC, 0x12, sampled=False)):
        assert current_exemplar() is None
    with trace.use_span(trace.INVALID_SPAN):
        assert current_exemplar() is None


# -- observe and the exposition ----------------------------------------------------------


def test_exemplar_observer_sets_the_exemplar_on_the_observed_bucket():
    buckets = (0.01, 0.1, 1.0)
    ours_registry, theirs_registry = CollectorRegistry(), CollectorRegistry()
    ours = Histogram("d_seconds", "d", ["r"], registry=ours_registry, buckets=buckets)
    theirs = Histogram("d_seconds", "d", ["r"], registry=theirs_registry, buckets=buckets)
    observe = exemplar_observer(ours.labels("x"))
    trace_labels = parse_traceparent(VALID)
    for value in (0.005, 0.01, 0.05, 0.5, 5.0):  # below, on, between and above the bounds
        observe(value, trace_labels)
        theirs.labels("x").observe(value, trace_labels)
    observe(0.07, None)  # no trace: counted, no exemplar
    theirs.labels("x").observe(0.07)

    def exposition(registry: CollectorRegistry) -> list[str]:
        # exemplar timestamps differ by construction; compare everything before them
        return [line.rsplit(" ", 1)[0] if " # {" in line else line
                for line in generate_openmetrics(registry).decode().splitlines()
                if "_created" not in line]  # fmt: skip

    assert exposition(ours_registry) == exposition(theirs_registry)
    text = generate_openmetrics(ours_registry).decode()
    assert (
        f'd_seconds_bucket{{le="1.0",r="x"}} 5.0'
        f' # {{span_id="{SPAN_ID}",trace_id="{TRACE_ID}"}} 0.5' in text
    )
    assert "# {" not in generate_latest(ours_registry).decode()  # the text format has none


def test_exemplar_observer_counts_beside_the_childs_own_observe_from_threads():
    child = Histogram("d_seconds", "d", registry=CollectorRegistry(), buckets=(0.01, 0.1))
    observe, trace_labels = exemplar_observer(child), parse_traceparent(VALID)

    def work(ours: bool) -> None:
        for i in range(4000):
            value = (i % 3) * 0.05  # 0.0, 0.05, 0.1: one per bucket up to 0.1
            if ours:
                observe(value, trace_labels)
            else:
                child.observe(value)

    threads = [threading.Thread(target=work, args=(n % 2 == 0,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    buckets = {s.labels["le"]: s.value for s in child.collect()[0].samples if "le" in s.labels}
    assert buckets == {"0.01": 5336.0, "0.1": 16000.0, "+Inf": 16000.0}  # cumulative
    assert child._sum.get() == pytest.approx(4 * 1333 * (0.05 + 0.1))
    observe(math.nan, trace_labels)  # as observe(nan, exemplar): the sum alone, no exemplar
    after = {s.name: s for s in child.collect()[0].samples if s.name != "d_seconds_created"}
    assert after["d_seconds_count"].value == 16000 and math.isnan(after["d_seconds_sum"].value)
    assert child._buckets[0].get_exemplar().value == 0.0  # the newest of each bucket's


# -- a real Prometheus ---------------------------------------------------------------------


def scrape_config(target: str) -> dict:
    """Scrape ``target`` every second (Prometheus asks for OpenMetrics, exemplars and all,
    when exemplar storage is on)."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": "app", "static_configs": [{"targets": [urlsplit(target).netloc]}]}
        ],
    }


@pytest.mark.slow
def test_prometheus_stores_the_trace_of_a_request(tmp_path):
    collector = MetricsCollector(namespace="app", process_metrics=False)

    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/items/{item_id}", item),
            Route("/metrics", MetricsEndpoint(collector.registry)),
        ],
        middleware=[Middleware(HttpMetricsMiddleware, collector=collector)],
    )
    with (
        running(app) as base,
        prometheus_daemon(
            scrape_config(base), tmp_path / "prometheus", "--enable-feature=exemplar-storage"
        ) as prometheus,
    ):
        started = time.time()
        response = httpx.get(f"{base}/items/1", headers={"traceparent": VALID}, timeout=10)
        assert response.status_code == 200

        def stored() -> list[dict]:
            answer = httpx.get(
                f"{prometheus}/api/v1/query_exemplars",
                params={
                    "query": 'app_http_request_duration_seconds_bucket{route="/items/{item_id}"}',
                    "start": f"{started - 60:.3f}",
                    "end": f"{time.time() + 60:.3f}",
                },
                timeout=10,
            ).json()
            assert answer["status"] == "success", answer
            return [e for series in answer["data"] for e in series["exemplars"]]

        (exemplar, *_) = wait_until(stored, timeout=20)
        assert exemplar["labels"] == {"trace_id": TRACE_ID, "span_id": SPAN_ID}
        assert 0 < float(exemplar["value"]) < 1


def test_operation_records_carry_the_requests_trace_as_an_exemplar() -> None:
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

    from exporter import MetricsCollector
    from exporter.exemplars import current_trace, parse_traceparent

    collector = MetricsCollector(namespace="shop", operations=["checkout"])
    collector.record_operation("checkout", 0.003)  # no trace: no exemplar
    assert "trace_id" not in openmetrics(collector.registry).decode()
    trace = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    token = current_trace.set(trace)
    try:
        collector.record_operation("checkout", 0.003)
    finally:
        current_trace.reset(token)
    text = openmetrics(collector.registry).decode()
    line = next(x for x in text.splitlines() if 'le="0.005"' in x and "duration" in x)
    assert 'trace_id="4bf92f3577b34da6a3ce929d0e0e4736"' in line and " 0.003 " in line


def test_operation_records_fall_back_to_the_active_opentelemetry_span() -> None:
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

    from exporter import MetricsCollector

    collector = MetricsCollector(namespace="shop", operations=["checkout"])
    with trace.use_span(_span(0xABC, 0x12, sampled=False)):
        collector.record_operation("checkout", 0.003)  # unsampled: no exemplar
    with trace.use_span(trace.INVALID_SPAN):
        collector.record_operation("checkout", 0.003)
    assert "trace_id" not in openmetrics(collector.registry).decode()
    with trace.use_span(_span(0xABC, 0x12)):
        collector.record_operation("checkout", 0.003)
    text = openmetrics(collector.registry).decode()
    line = next(x for x in text.splitlines() if 'le="0.005"' in x and "duration" in x)
    assert f'trace_id="{0xABC:032x}"' in line and f'span_id="{0x12:016x}"' in line
