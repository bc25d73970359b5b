"""Pins ``exporter.readback`` to prometheus-client: what it reads directly equals ``collect()``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

from exporter.readback import custom_collectors, operation_totals


def test_direct_reads_equal_what_collect_reports() -> None:
    registry = CollectorRegistry()
    total = Counter("ops", "x", ["operation"], registry=registry).labels("a")
    errors = Counter("errs", "x", ["operation"], registry=registry).labels("a")
    histogram = Histogram("dur", "x", ["operation"], registry=registry, buckets=(0.01, 0.1, 1.0))
    duration = histogram.labels("a")
    for seconds in (0.005, 0.05, 0.05, 0.5, 5.0):
        total.inc()
        duration.observe(seconds)
    errors.inc(2)
    read = operation_totals(total, errors, duration)
    assert (read.count, read.errors) == (5, 2)
    collected = {
        (s.name, s.labels.get("le")): s.value for f in histogram.collect() for s in f.samples
    }
    assert read.buckets == tuple(
        int(collected[("dur_bucket", le)]) for le in ("0.01", "0.1", "1.0", "+Inf")
    )
    assert read.total_seconds == collected[("dur_sum", None)]


def test_custom_collectors_are_those_multiprocess_mode_does_not_store() -> None:
    registry = CollectorRegistry()
    Counter("c", "x", registry=registry)
    Gauge("g", "x", registry=registry)
    info = Info("i", "x", registry=registry)
    process = ProcessCollector(registry=registry)
    assert set(custom_collectors(registry)) == {info, process}
