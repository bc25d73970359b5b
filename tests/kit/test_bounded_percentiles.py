"""Window percentiles stay within the observed minimum and maximum (issue 18 item 4): a
bucket's linear interpolation alone reports p50 0.05 ms for requests that all took 8 us."""

from __future__ import annotations

import random

import pytest

from exporter import MetricsCollector
from exporter._views import operations_view
from exporter.stats import bucket_quantile


def test_interpolation_is_held_within_the_observed_range():
    bounds, cumulative = (0.0001, 0.001), (10, 10, 10)  # ten values at or under 100 us
    assert bucket_quantile(0.5, bounds, cumulative) == pytest.approx(0.00005)  # PromQL's
    assert bucket_quantile(0.5, bounds, cumulative, (0.000008, 0.000008)) == 0.000008
    # in the +Inf bucket PromQL says the highest bound; the minimum seen is above it
    assert bucket_quantile(0.99, bounds, (0, 0, 4), (2.0, 3.0)) == 2.0
    assert bucket_quantile(0.5, bounds, (0, 0, 0), (1.0, 2.0)) is None


@pytest.mark.parametrize("seed", range(5))
def test_every_window_percentile_lies_within_min_and_max(seed):
    rng = random.Random(seed)
    collector = MetricsCollector(process_metrics=False)
    scale = rng.choice([0.000008, 0.0003, 0.02, 7.0, 30.0])  # under, within, over the buckets
    for _ in range(rng.randint(1, 200)):
        collector.record_operation("op", scale * rng.uniform(0.5, 1.5))
    view = operations_view(collector)["op"]
    lo, hi = view["min_duration_ms"], view["max_duration_ms"]
    for window in view["window"].values():
        for p in ("p50_ms", "p95_ms", "p99_ms"):
            assert lo <= window[p] <= hi, (p, window[p], lo, hi)
        assert window["p50_ms"] <= window["p95_ms"] <= window["p99_ms"]


def test_the_issues_example_8_us_requests():
    collector = MetricsCollector(process_metrics=False)
    for _ in range(50):
        collector.record_operation("op", 0.000008)
    window = operations_view(collector)["op"]["window"]["1m"]
    assert window["p50_ms"] == window["p99_ms"] == 0.008
