"""The kit's ``histogram=`` option: the collector and the middleware keep native histograms,
``/metrics`` negotiates protobuf for them, windows read quantiles from the native buckets,
and several processes' states and exemplars merge (each published on its beat)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from exporter import HttpMetricsMiddleware, MetricsCollector, NativeOptions
from exporter.exemplars import current_trace
from exporter.exposition import MetricsEndpoint
from exporter.native import CONTENT_TYPE, generate_protobuf
from tests.kit.native.proto import decode as parse_delimited

PROTOBUF_ACCEPT = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
    "encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
DURATION = "shop_operation_duration_seconds"


def _values(n: int = 5000) -> list[float]:
    rng = random.Random(11)
    return [rng.lognormvariate(-5, 1.2) for _ in range(n)]


@pytest.mark.parametrize(
    ("histogram", "native"),
    [("sometimes", None), ("classic", NativeOptions(bucket_factor=1.5)), ("native", "x")],
)
def test_bad_histogram_options_are_refused(histogram, native):
    with pytest.raises((ValueError, TypeError), match=r"histogram|native"):
        MetricsCollector(histogram=histogram, native=native, process_metrics=False)
    with pytest.raises((ValueError, TypeError), match=r"histogram|native"):
        HttpMetricsMiddleware(
            Starlette(), collector=MetricsCollector(process_metrics=False), histogram=histogram,
            native=native,
        )  # fmt: skip


@pytest.mark.parametrize("histogram", ["native", "both"])
def test_window_percentiles_come_from_the_native_buckets(histogram):
    collector = MetricsCollector(histogram=histogram, process_metrics=False, namespace="shop")
    values = _values()
    for v in values:
        collector.record_operation("pay", v)
    values.sort()
    window = collector.windows(60)["pay"]
    for q, got in ((0.5, window.p50_seconds), (0.99, window.p99_seconds)):
        truth = values[int(q * len(values)) - 1]
        assert got is not None and abs(got - truth) / truth < 0.045  # schema 3
    assert window.count == len(values)
    assert collector.snapshot()["pay"].max_seconds == values[-1]


def test_native_only_text_scrape_has_no_classic_buckets_protobuf_has_native_ones():
    collector = MetricsCollector(histogram="native", process_metrics=False, namespace="shop")
    for v in _values(500):
        collector.record_operation("pay", v)
    text = collector.registry and collector.exposition_registry
    families = {f.name: f for f in text_string_to_metric_families(_text(text))}
    buckets = [s for s in families[DURATION].samples if s.name.endswith("_bucket")]
    assert {s.labels["le"] for s in buckets} == {"+Inf"}
    parsed = {f.name: f for f in parse_delimited(generate_protobuf(collector.registry))}
    histogram = next(m.histogram for m in parsed[DURATION].metric if m.label[0].value == "pay")
    assert histogram.schema == 3 and histogram.sample_count == 500
    assert sum(span.length for span in histogram.positive_span) > 10


def _text(registry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


def _app(collector: MetricsCollector, **options) -> Starlette:
    async def hello(request):
        return PlainTextResponse("hi")

    return Starlette(
        routes=[Route("/hello", hello), Route("/metrics", MetricsEndpoint(collector.registry))],
        middleware=[Middleware(HttpMetricsMiddleware, collector=collector, **options)],
    )


async def test_metrics_endpoint_negotiates_protobuf_and_filters_keep_native_whole():
    collector = MetricsCollector(process_metrics=False, namespace="shop")
    app = _app(collector, histogram="both", body_sizes=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(5):
            await client.get("/hello")
        proto = await client.get("/metrics", headers={"Accept": PROTOBUF_ACCEPT})
        text = await client.get("/metrics", headers={"Accept": "text/plain"})
        only = await client.get(
            "/metrics?name[]=shop_http_request_duration_seconds_bucket",
            headers={"Accept": PROTOBUF_ACCEPT},
        )
    assert proto.headers["content-type"] == CONTENT_TYPE
    assert text.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in parse_delimited(proto.content)}
    duration = families["shop_http_request_duration_seconds"].metric[0].histogram
    assert duration.schema == 3 and duration.sample_count == 5
    assert len(duration.bucket) > 1  # "both": the classic buckets beside the native ones
    assert families["shop_http_request_size_bytes"].metric[0].histogram.schema == 3
    filtered = parse_delimited(only.content)
    assert [f.name for f in filtered] == ["shop_http_request_duration_seconds"]
    assert filtered[0].metric[0].histogram.schema == 3
    assert 'le="0.005"' in text.text  # classic buckets for text scrapers


def test_records_with_a_trace_keep_it_in_the_native_histogram():
    collector = MetricsCollector(histogram="both", process_metrics=False, namespace="shop")
    token = current_trace.set({"trace_id": "a" * 32, "span_id": "b" * 16})
    try:
        collector.record_operation("pay", 0.02)
    finally:
        current_trace.reset(token)
    from prometheus_client.openmetrics.exposition import generate_latest

    text = generate_latest(collector.registry).decode()
    assert 'le="0.025",operation="pay"} 1.0 # {span_id="' in text


@pytest.mark.parametrize("histogram", ["native", "both"])
def test_records_from_threads_keep_count_errors_and_buckets_together(histogram):
    """One lock (the histogram's) guards the count, the errors and the buckets of a record."""
    collector = MetricsCollector(histogram=histogram, process_metrics=False)

    def work(offset: int) -> None:
        for i in range(3000):
            collector.record_operation("pay", (i % 89 + offset) / 1000, error=i % 3 == 0)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats, native = collector.get("pay"), collector._slots["pay"].native
    assert native is not None
    state = native.snapshot()
    assert (stats.count, stats.errors) == (12000, 4000)
    assert state.count == 12000 == sum(state.positive.values()) + state.zero_count


WORKER = textwrap.dedent(
    """
    import json, sys
    from exporter import MetricsCollector
    from exporter.exemplars import current_trace
    from exporter.native import generate_protobuf
    from prometheus_client.openmetrics.exposition import generate_latest
    collector = MetricsCollector(histogram=sys.argv[1], namespace="shop", process_metrics=False)
    current_trace.set({"trace_id": sys.argv[2] * 32, "span_id": "c" * 16})
    for _ in range(int(sys.argv[4])):
        collector.record_operation("pay", float(sys.argv[3]))
    if sys.argv[5] == "read":
        registry = collector.exposition_registry
        print(json.dumps({
            "text": generate_latest(registry).decode(),
            "protobuf": generate_protobuf(registry).hex(),
            "p99": collector.windows(60)["pay"].p99_seconds,
        }))
    collector.close()  # publishes a last time
    """
)


def _worker(directory, histogram: str, trace: str, seconds: float, n: int, then: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    args = [sys.executable, "-c", WORKER, histogram, trace, str(seconds), str(n), then]
    return subprocess.run(args, check=True, env=env, capture_output=True, text=True).stdout


@pytest.mark.parametrize("histogram", ["classic", "native", "both"])
def test_several_processes_merge_native_states_and_exemplars(tmp_path, histogram):
    """A worker that records and exits (its document folded when it is swept), then another
    that records and reads: the server's exposition holds both processes' counts and, per
    classic bucket, the trace of whichever process recorded there last."""
    _worker(tmp_path, histogram, "a", 0.02, 100, "exit")
    found = json.loads(_worker(tmp_path, histogram, "b", 0.3, 50, "read"))
    text = found["text"]
    assert f'{DURATION}_count{{operation="pay"}} 150.0' in text
    if histogram != "native":  # an exemplar per classic bucket, from each process
        assert 'trace_id="' + "a" * 32 in text and 'trace_id="' + "b" * 32 in text
    parsed = {f.name: f for f in parse_delimited(bytes.fromhex(found["protobuf"]))}
    pay = next(m for m in parsed[DURATION].metric if m.label[0].value == "pay").histogram
    assert pay.sample_count == 150
    if histogram != "classic":
        assert pay.schema == 3 and len(pay.positive_delta) >= 2
    assert 0.25 < found["p99"] <= 0.3
