"""The micro-benchmarks run, and the one structural goal holds (no timing asserted here:
speed goals are ratios that `python -m exporter.native.bench` reports)."""

from __future__ import annotations

from exporter.native import bench


def test_the_benchmarks_produce_ratios():
    for ratio in (
        bench.observe_ratio(number=200, rounds=3),
        bench.observe_ratio(number=200, rounds=3, classic=True),
        bench.render_ratio(operations=3, number=2, rounds=3),
    ):
        assert ratio.ratio > 0 and ratio.candidate_us > 0 and ratio.baseline_us > 0
        assert "x (" in str(ratio)


def test_native_only_histograms_need_a_fifth_of_the_series_or_fewer():
    # issue 22's goal: series per scrape with native only <= 0.2x the classic count
    assert bench.series_ratio(operations=5) <= 0.2
    assert bench.series_ratio(operations=5) == 1 / (len(bench.CLASSIC_BUCKETS) + 3)
