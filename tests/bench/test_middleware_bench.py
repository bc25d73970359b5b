"""The HTTP middleware and exemplar benchmark cases (aiexpense_bench.http_cases) measure
what they claim, and their goals are judged as issue 10 states them."""

from __future__ import annotations

import random
import statistics

from aiexpense_bench import http_cases, report


def _requests_counted(name: str) -> float:
    (middleware,) = http_cases._apps()[name].user_middleware
    registry = middleware.kwargs["collector"].registry
    return registry.get_sample_value(
        "bench_http_requests_total",
        {"method": "GET", "route": "/items/{item_id}", "status": "200"},
    )


def test_the_cases_drive_the_middleware_and_every_case_runs():
    before = _requests_counted("kit")
    assert http_cases.kit_http_middleware(5) > 0
    assert http_cases.kit_uvicorn_middleware(5) > 0
    # 5 + 5 timed requests and one warm-up each, all answered 200 on the route template
    assert _requests_counted("kit") - (before or 0) == 12
    for name, (func, _) in http_cases.CASES.items():
        assert func(3) > 0, name


def _bench(median: float, floor: str | None = None) -> dict:
    """A case of 40 values spread 2% around ``median``: enough for the goals to be judged."""
    rng = random.Random(int(median * 1e9))
    values = [median * (1 + rng.gauss(0, 0.02)) for _ in range(40)]
    return {"kind": "micro", "median": statistics.median(values), "values": values,
            "floor": floor}  # fmt: skip


def test_goals_added_time_and_added_cost_against_a_reference():
    rows = {
        r.case: r
        for r in report.micro_rows(
            {
                "floor.http_bare": _bench(10e-6),
                "kit.http_middleware": _bench(11e-6, "floor.http_bare"),
                "ref.http_starlette_exporter": _bench(40e-6, "floor.http_bare"),
                "floor.histogram_observe": _bench(1.0e-6),
                "kit.observe_exemplar": _bench(1.6e-6, "floor.histogram_observe"),
            }
        )
    }
    # issue 10's "<= 15% over bare" is per server request (middleware_rows), not in process
    assert rows["kit.http_middleware"].goal == "" and rows["kit.http_middleware"].passed is None
    added = rows["kit.http_middleware added cost"]
    assert abs(added.ratio - 1 / 30) < 0.02 and added.passed
    assert rows["kit.observe_exemplar"].passed is False  # +0.6 us > +0.5 us


def _rounds(center: float, n: int = 21) -> list[float]:
    rng = random.Random(int(center * 1000))
    return [center * (1 + rng.gauss(0, 0.02)) for _ in range(n)]


def test_the_real_server_goals_are_judged_on_paired_rounds():
    bare = _rounds(100.0)
    fast = {"bare": bare, "ours": [b * 1.05 for b in bare], "starlette_exporter": _rounds(140.0)}
    ratio, share = report.middleware_rows({"runs": fast})
    assert ratio.passed and abs(ratio.ratio - 1.05) < 1e-9
    assert share.passed and 0.1 < share.ratio < 0.15  # +5 of +40 us
    slow = {**fast, "ours": [b * 1.2 for b in bare]}
    ratio, share = report.middleware_rows({"runs": slow})
    assert ratio.passed is False and share.passed is False  # +20 of +40 us: a half


def test_the_storm_goals_are_judged_on_paired_rounds():
    idle = _rounds(1.0, 7)
    info = {
        "storm": {"idle_p50": idle, "storm_p50": [i * 2 for i in idle], "scrapes": 9,
                  "path": "/monitoring/metrics"},
        "lag": {"max_lag_without": idle, "max_lag_with": [i * 3 for i in idle]},
    }  # fmt: skip
    reads, lag = report.storm_rows(info)
    assert reads.passed and abs(reads.ratio - 2) < 1e-9  # 2x idle <= 3x
    assert lag.passed is False and abs(lag.ratio - 3) < 1e-9  # 3x > 2x
