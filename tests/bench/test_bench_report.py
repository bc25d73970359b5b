"""The bench summary judges a goal only on data that can decide it, and fits 100 columns.

The results are generated here (seeded), so each case has a known truth: clearly inside the
goal, clearly outside it, right at it (the interval straddles), or too few samples.
"""

from __future__ import annotations

import random
from statistics import median
from typing import Any

import pytest

from aiexpense_bench import report
from aiexpense_bench import significance as sig
from aiexpense_bench.loadgen import new_histogram

NOISE = 0.05


def values(rng: random.Random, center: float, n: int) -> list[float]:
    return [center * (1 + rng.gauss(0, NOISE)) for _ in range(n)]


def micro(rng: random.Random, name: str, ratio: float, n: int) -> dict[str, Any]:
    floor = values(rng, 1e-6, n)
    bench = values(rng, 1e-6 * ratio, n)
    return {
        f"floor.{name}": {"kind": "micro", "values": floor, "median": median(floor)},
        name: {
            "kind": "micro",
            "values": bench,
            "median": median(bench),
            "floor": f"floor.{name}",
        },
    }


def verdict_of(rows: list[report.Row], case: str) -> report.Row:
    (row,) = [r for r in rows if r.case == case]
    return row


# -- micro-benchmark ratio goals (kit.time_with: <= 1.3x its floor) -----------------------


@pytest.mark.parametrize(
    ("ratio", "n", "verdict"),
    [
        (1.05, 60, "PASS"),  # clearly under 1.3x
        (1.60, 60, "FAIL"),  # clearly over
        (1.30, 60, "not judged"),  # at the goal: the interval straddles it
        (1.05, 3, "not judged"),  # --quick's 3 values: nothing can be concluded
    ],
)
def test_a_ratio_goal_is_judged_on_its_confidence_interval(ratio, n, verdict) -> None:
    rows = report.micro_rows(micro(random.Random(7), "kit.time_with", ratio, n))
    row = verdict_of(rows, "kit.time_with")
    assert row.verdict == verdict, row.reason
    assert row.passed is {"PASS": True, "FAIL": False, "not judged": None}[verdict]
    if n >= sig.MIN_VALUES:
        assert "90% CI" in row.reason
    if verdict == "not judged" and n >= sig.MIN_VALUES:
        assert "straddles 1.3" in row.reason


@pytest.mark.parametrize(
    ("pyperf_ratio", "round_ratio", "verdict"),
    [
        (1.60, 1.05, "PASS"),  # pyperf's medians, taken apart, would fail it
        (1.05, 1.60, "FAIL"),  # and pass this one
    ],
)
def test_a_ratio_goal_with_interleaved_rounds_is_judged_on_them(
    pyperf_ratio, round_ratio, verdict
) -> None:
    rng = random.Random(3)
    benchmarks = micro(rng, "kit.status_page_256", pyperf_ratio, 60)
    floor = values(rng, 1e-3, 15)
    case = [f * round_ratio * (1 + rng.gauss(0, NOISE)) for f in floor]
    benchmarks["kit.status_page_256"]["interleaved"] = {"case": case, "floor": floor}
    row = verdict_of(report.micro_rows(benchmarks), "kit.status_page_256")
    assert row.verdict == verdict, row.reason
    assert row.reason.startswith("interleaved: 15 rounds") and "Wilcoxon" in row.reason
    assert row.ratio == pytest.approx(round_ratio, rel=0.1)


def test_a_time_goal_is_judged_on_the_median_interval() -> None:
    rng = random.Random(3)
    fast = {"kind": "micro", "values": values(rng, 20e-6, 40), "floor": None}
    slow = {"kind": "micro", "values": values(rng, 80e-6, 40), "floor": None}
    edge = {"kind": "micro", "values": values(rng, 50e-6, 40), "floor": None}
    for bench, expected in ((fast, True), (slow, False), (edge, None)):
        bench["median"] = median(bench["values"])
        (row,) = report.micro_rows({"service.parse_conversation": bench})
        assert row.passed is expected, row.reason


# -- load goals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "requests", "passed"),
    [(0, 100, None), (0, 100_000, True), (500, 10_000, False), (10, 10_000, None)],
)
def test_an_error_rate_goal_needs_enough_requests(errors, requests, passed) -> None:
    verdict = sig.proportion(errors, requests, report.ERROR_RATE_PERCENT / 100, at_most=True)
    assert verdict.passed is passed, verdict.reason


@pytest.mark.parametrize(
    ("cost_percent", "rounds", "passed"),
    [(0.5, 6, True), (10.0, 6, False), (0.5, 4, None), (3.0, 6, None)],
)
def test_the_instrumentation_cost_is_judged_on_paired_rounds(cost_percent, rounds, passed):
    rng = random.Random(11)
    off = [2000 * (1 + rng.gauss(0, 0.05)) for _ in range(rounds)]  # drift between rounds
    on = [b * (1 - cost_percent / 100) * (1 + rng.gauss(0, 0.003)) for b in off]
    info = {
        "on_rps": sum(on) / rounds,
        "off_rps": sum(off) / rounds,
        "cost_percent": 100 * (1 - sum(on) / sum(off)),
        "paired_cost_percent": cost_percent,
        "p_value": None,
        "rounds": [on, off],
    }
    (row,) = report.load_rows({"instrumentation": info})
    assert row.passed is passed, row.reason
    if rounds < sig.MIN_ROUNDS:
        assert "unreachable" in row.reason


@pytest.mark.parametrize(
    ("center_us", "n", "passed"),
    [(1200, 5000, True), (2600, 5000, False), (2000, 5000, None), (1200, 5, None)],
)
def test_a_mean_latency_goal_is_judged_on_the_histograms_bootstrap(center_us, n, passed) -> None:
    rng = random.Random(9)
    h = new_histogram()
    for _ in range(n):
        h.record_value(max(1, int(rng.gauss(center_us, center_us / 4))))
    run = {"users": 16, "throughput_rps": 200.0, "latency_ms": {"mean": 1.0},
           "round_trip_ms": {"mean": center_us / 1000, "p99": 3.0}, "service": {},
           "round_trip_hdr": h.encode().decode()}  # fmt: skip
    (row,) = report.load_rows({"paced": run})
    assert row.passed is passed, row.reason


def probes(live_us: int, health_us: int, n: int) -> dict[str, Any]:
    rng = random.Random(5)
    by_label = {}
    for label, center in (("live", live_us), ("health", health_us)):
        h = new_histogram()
        for _ in range(n):
            h.record_value(max(1, int(rng.expovariate(1 / center))))
        by_label[label] = {
            "p99": h.get_value_at_percentile(99) / 1000,
            "p50": h.get_value_at_percentile(50) / 1000,
            "hdr": h.encode().decode(),
        }
    ratio = by_label["health"]["p99"] / by_label["live"]["p99"]
    return {"users": 4, "by_label": by_label, "p99_ratio": {"health": ratio}}


@pytest.mark.parametrize(
    ("health_us", "n", "passed"), [(300, 20_000, True), (900, 20_000, False), (300, 200, None)]
)
def test_a_p99_ratio_goal_is_judged_on_its_bootstrap_interval(health_us, n, passed) -> None:
    (row,) = report.load_rows({"probes": probes(300, health_us, n)})
    assert row.passed is passed, row.reason


def test_a_quick_run_judges_nothing_but_exact_counts() -> None:
    result = {
        "options": {"quick": True},
        "benchmarks": micro(random.Random(1), "kit.record_operation", 1.05, 60),
        "load": {"probes": probes(300, 300, 20_000)},
    }
    rows = report.evaluate(result)
    goals = [r for r in rows if r.verdict]
    assert goals and all(r.verdict == "not judged" for r in goals)
    assert all("--quick" in r.reason for r in goals)
    assert report.passed_count(rows) == (0, 0) and report.not_judged_count(rows) == len(goals)
    exact = report.Row("load.mixed service vs client counts", "0.00% apart", goal="<= 1%",
                       passed=True, reason="exact counts", exact=True)  # fmt: skip
    assert report._smoke(exact) == exact


def test_the_summary_fits_100_columns_however_long_the_figures() -> None:
    rows = report.micro_rows(micro(random.Random(2), "kit.record_operation", 1.05, 60))
    rows += report.load_rows({"probes": probes(300, 320, 20_000)})
    rows.append(
        report.Row(
            "load.mixed instrumentation on vs off",
            "on 1,736 req/s, off 1,819 req/s: cost +4.6%; per round +7.2% (median), on:off "
            + " / ".join(["1,979:1,908"] * 12),
            "instrumentation off",
            0.95,
            "cost <= 3% (issue 7)",
            None,
            "6 rounds, on/off 0.93-0.99, Wilcoxon p=0.078 either way",
        )
    )
    table = report.goals_table(rows)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any(line.startswith("PASS") for line in lines)
    assert any(line.startswith("not judged") for line in lines)
    assert "Wilcoxon p=0.078" in " ".join(lines)  # wrapped, not cut
    memory = {"service.get_expenses_100_warm_with_a_very_long_name_indeed": dict.fromkeys(
        ("peak_bytes", "retained_bytes", "retained_blocks"), 123456.0)}  # fmt: skip
    assert max(len(line) for line in report.memory_table(memory).splitlines()) <= 100
