"""The protobuf exposition, decoded with a parser compiled from the format's messages
(exposition.proto) and compared field by field: with prometheus-client's own text parser as
the oracle for every classic family's values, and with client_golang's expected messages for
native buckets."""

from __future__ import annotations

import math

import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeHistogramMetricFamily, UnknownMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from exporter.native import (
    CONTENT_TYPE,
    DEFAULT_ZERO_THRESHOLD,
    NativeHistogram,
    NativeHistogramCollector,
    NativeOptions,
    generate_protobuf,
)

from .proto import by_name, decode, labels, message_classes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TRACE = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}


class Custom:
    """Families prometheus-client has no metric class for: untyped with a sample
    timestamp, a gauge histogram."""

    def collect(self):
        untyped = UnknownMetricFamily("legacy_value", "An untyped value.", labels=["kind"])
        untyped.add_metric(["a"], 2.5, timestamp=1700000000.25)
        gauge_histogram = GaugeHistogramMetricFamily(
            "queue_wait_seconds", "Time in the queue now.", buckets=[("1.0", 3), ("+Inf", 5)],
            gsum_value=4.5,
        )  # fmt: skip
        return [untyped, gauge_histogram]


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter("requests", "Requests served.", ["route"], registry=registry)
    requests.labels("/a").inc(3)
    requests.labels("/b").inc(1, exemplar=TRACE)
    Gauge("temperature_celsius", "Now.", registry=registry).set(-4.25)
    latency = Histogram("latency_seconds", "Latency.", ["op"], buckets=(0.1, 1), registry=registry)
    latency.labels("read").observe(0.05)
    latency.labels("read").observe(0.5, exemplar=TRACE)
    latency.labels("read").observe(7)
    Summary("size_bytes", "Sizes.", registry=registry).observe(512)
    Info("build", "Build.", registry=registry).info({"version": "1.2.3"})
    Enum("state", "State.", states=["up", "down"], registry=registry).state("down")
    registry.register(Custom())
    return registry


def text_oracle(registry: CollectorRegistry) -> dict[str, dict[tuple, float]]:
    """Every sample's value by (sample name, sorted labels), as the text format says."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_content_type_is_the_delimited_metric_family_stream():
    assert CONTENT_TYPE == (
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
        "encoding=delimited"
    )


def test_every_family_type_maps_as_prometheus_does(registry):
    families = by_name(generate_protobuf(registry))
    types = message_classes()["MetricFamily"]().DESCRIPTOR.fields_by_name["type"].enum_type
    kinds = {name: types.values_by_number[f.type].name for name, f in families.items()}
    assert kinds == {
        "requests_total": "COUNTER",
        "temperature_celsius": "GAUGE",
        "latency_seconds": "HISTOGRAM",
        "size_bytes": "SUMMARY",
        "build_info": "GAUGE",
        "state": "GAUGE",
        "legacy_value": "UNTYPED",
        "queue_wait_seconds": "GAUGE_HISTOGRAM",
    }
    assert families["latency_seconds"].help == "Latency."


def test_values_agree_with_the_text_format(registry):
    oracle = text_oracle(registry)
    families = by_name(generate_protobuf(registry))

    def text(name, **ls):
        return oracle[name][tuple(sorted(ls.items()))]

    for m in families["requests_total"].metric:
        route = labels(m)["route"]
        assert m.counter.value == text("requests_total", route=route)
        assert m.counter.created_timestamp.seconds > 0
    assert families["temperature_celsius"].metric[0].gauge.value == -4.25
    (read,) = families["latency_seconds"].metric
    h = read.histogram
    assert labels(read) == {"op": "read"}
    assert h.sample_count == 3 and h.sample_sum == text("latency_seconds_sum", op="read")
    assert [(b.upper_bound, b.cumulative_count) for b in h.bucket] == [
        (0.1, text("latency_seconds_bucket", op="read", le="0.1")),
        (1.0, text("latency_seconds_bucket", op="read", le="1.0")),
    ]  # +Inf left out: Prometheus takes it from sample_count
    assert not h.HasField("schema") and not h.positive_span  # classic only
    (size,) = families["size_bytes"].metric
    assert (size.summary.sample_count, size.summary.sample_sum) == (1, 512.0)
    (build,) = families["build_info"].metric
    assert labels(build) == {"version": "1.2.3"} and build.gauge.value == 1
    states = {labels(m)["state"]: m.gauge.value for m in families["state"].metric}
    assert states == {"up": 0.0, "down": 1.0}
    (legacy,) = families["legacy_value"].metric
    assert legacy.untyped.value == 2.5 and legacy.timestamp_ms == 1700000000250
    (queue,) = families["queue_wait_seconds"].metric
    assert (queue.histogram.sample_count, queue.histogram.sample_sum) == (5, 4.5)
    assert [(b.upper_bound, b.cumulative_count) for b in queue.histogram.bucket] == [(1.0, 3)]


def test_exemplars_ride_on_counters_and_buckets(registry):
    families = by_name(generate_protobuf(registry))
    (b,) = [m for m in families["requests_total"].metric if labels(m)["route"] == "/b"]
    assert labels(b.counter.exemplar) == TRACE and b.counter.exemplar.value == 1
    assert b.counter.exemplar.timestamp.seconds > 0
    bucket = families["latency_seconds"].metric[0].histogram.bucket[1]
    assert bucket.upper_bound == 1.0 and labels(bucket.exemplar) == TRACE
    assert bucket.exemplar.value == 0.5


def test_a_native_histogram_is_client_golangs_message():
    """client_golang's "factor 1.1 results in schema 3": 0, 1, 2, 3 observed."""
    registry = CollectorRegistry()
    h = NativeHistogramCollector("x_seconds", "X.", registry=registry, clock=lambda: 1.5)
    for value in (0, 1, 2, 3):
        h.labels().observe(value)
    (family,) = decode(generate_protobuf(registry))
    assert family.name == "x_seconds" and family.type == 4  # HISTOGRAM
    got = family.metric[0].histogram
    assert (got.sample_count, got.sample_sum, got.schema) == (4, 6.0, 3)
    assert got.zero_threshold == DEFAULT_ZERO_THRESHOLD == 2.938735877055719e-39
    assert got.zero_count == 1
    assert [(s.offset, s.length) for s in got.positive_span] == [(0, 1), (7, 1), (4, 1)]
    assert list(got.positive_delta) == [1, 0, 0]
    assert not got.negative_span and not got.negative_delta and not got.bucket
    assert (got.created_timestamp.seconds, got.created_timestamp.nanos) == (1, 500_000_000)


def test_negative_schemas_offsets_and_deltas_survive_zigzag():
    """client_golang's "factor 4 results in schema -1", mirrored to negative values too."""
    registry = CollectorRegistry()
    h = NativeHistogramCollector(
        "y", "Y.", options=NativeOptions(bucket_factor=4), registry=registry
    ).labels()
    values = [0.0156251, 0.0625, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 3.5, 5, 6, 7, 33.33]
    for v in values:
        h.observe(v)
        h.observe(-v)
    got = decode(generate_protobuf(registry))[0].metric[0].histogram
    assert got.schema == -1 and got.sample_count == 28
    for spans, deltas in ((got.positive_span, got.positive_delta),
                          (got.negative_span, got.negative_delta)):  # fmt: skip
        assert [(s.offset, s.length) for s in spans] == [(-2, 6)]
        assert list(deltas) == [2, 0, 0, 2, -1, -2]


def test_classic_buckets_beside_native_ones_and_exemplars_in_both_places():
    registry = CollectorRegistry()
    h = NativeHistogramCollector(
        "op_seconds", "Op.", ["op"], buckets=(0.01, 0.1, 1), registry=registry,
        clock=lambda: 1700000000.0,
    )  # fmt: skip
    child = h.labels("read")
    for v in (0.005, 0.05, 0.05, 5.0):
        child.observe(v)
    child.observe(0.5, exemplar=TRACE)
    child.observe(math.inf)
    got = decode(generate_protobuf(registry))[0].metric[0].histogram
    assert [(b.upper_bound, b.cumulative_count) for b in got.bucket] == [
        (0.01, 1),
        (0.1, 3),
        (1.0, 4),
    ]
    assert labels(got.bucket[2].exemplar) == TRACE
    assert got.bucket[2].exemplar.timestamp.seconds == 1700000000
    assert [labels(e) for e in got.exemplars] == [TRACE]  # field 16, for newer Prometheus
    assert got.schema == 3 and got.sample_count == 6 and math.isinf(got.sample_sum)
    assert sum(_expand(got.positive_span, got.positive_delta).values()) == 6
    # +Inf: one above the bucket of the largest float, 2^1024 = base^(1024 * 8)
    assert _expand(got.positive_span, got.positive_delta)[1024 * 8 + 1] == 1


def test_an_empty_histogram_with_zero_threshold_zero_gets_the_no_op_span():
    registry = CollectorRegistry()
    NativeHistogramCollector(
        "z", "Z.", options=NativeOptions(zero_threshold=0.0), registry=registry
    ).labels()
    got = decode(generate_protobuf(registry))[0].metric[0].histogram
    assert got.HasField("schema") and got.HasField("zero_threshold")
    assert [(s.offset, s.length) for s in got.positive_span] == [(0, 0)]


def test_text_scrapers_get_the_classic_buckets_of_a_native_histogram():
    registry = CollectorRegistry()
    h = NativeHistogramCollector("op_seconds", "Op.", ["op"], buckets=(0.1, 1), registry=registry)
    for v in (0.05, 0.5, 2.0):
        h.labels("read").observe(v)
    NativeHistogramCollector("only_native", "N.", registry=registry).labels().observe(3)
    oracle = text_oracle(registry)
    assert oracle["op_seconds_bucket"] == {
        (("le", "0.1"), ("op", "read")): 1.0,
        (("le", "1.0"), ("op", "read")): 2.0,
        (("le", "+Inf"), ("op", "read")): 3.0,
    }
    assert oracle["op_seconds_sum"][(("op", "read"),)] == 2.55
    assert oracle["only_native_bucket"] == {(("le", "+Inf"),): 1.0}
    assert oracle["only_native_count"] == {(): 1.0}


def test_a_huge_count_and_many_families_frame_correctly():
    registry = CollectorRegistry()
    c = Counter("big", "Big.", registry=registry)
    c.inc(2.0**60)
    for i in range(300):  # messages over 127 bytes: two-byte length prefixes
        Gauge(f"g{i}", "x" * 200, registry=registry).set(i)
    families = decode(generate_protobuf(registry))
    assert len(families) == 301
    assert families[0].metric[0].counter.value == 2.0**60


def test_merged_worker_states_encode_as_one_series():
    a, b = NativeHistogram(), NativeHistogram(NativeOptions(bucket_factor=1.2))
    for v in (1.0, 2.0):
        a.observe(v)
    b.observe(3.0)
    merged = a.snapshot().merge(b.snapshot())
    from exporter.native import NativeHistogramFamily

    family = NativeHistogramFamily("m", "M.")
    family.add_state((), merged)

    class One:
        def collect(self):
            return [family]

    registry = CollectorRegistry()
    registry.register(One())
    got = decode(generate_protobuf(registry))[0].metric[0].histogram
    assert got.schema == 2 and got.sample_count == 3 and got.sample_sum == 6.0
    assert _expand(got.positive_span, got.positive_delta) == {0: 1, 4: 1, 7: 1}


def _expand(spans, deltas) -> dict[int, int]:
    out, index, count, i = {}, 0, 0, 0
    for span in spans:
        index += span.offset
        for _ in range(span.length):
            count += deltas[i]
            i += 1
            if count:
                out[index] = count
            index += 1
    return out


def test_openmetrics_scrapers_get_the_classic_buckets_with_exemplars():
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse

    registry = CollectorRegistry()
    h = NativeHistogramCollector("op_seconds", "Op.", buckets=(0.1, 1), registry=registry)
    h.labels().observe(0.5, exemplar=TRACE)
    (family,) = parse(openmetrics(registry).decode())
    buckets = {s.labels["le"]: s for s in family.samples if s.name == "op_seconds_bucket"}
    assert [(le, s.value) for le, s in buckets.items()] == [("0.1", 0), ("1.0", 1), ("+Inf", 1)]
    assert buckets["1.0"].exemplar.labels == TRACE
