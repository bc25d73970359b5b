"""Issue 19's goals as the summary judges them, on synthetic rounds with a known truth.

Each goal is a ratio of rounds interleaved in one run (or a figure per round), judged on
the rounds: clearly met, clearly not, at the line (not judged), too few rounds (not
judged). No absolute time is asserted anywhere: the figures are made up here.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from aiexpense_bench import report, wrk
from aiexpense_bench import significance as sig

VERDICT = {True: "PASS", False: "FAIL", None: "not judged"}


def run(rps: float, *, p99: float = 50.0, rss: int = 60_000_000, errors: int = 0,
        served: int | None = None, connections: int = 16) -> dict[str, Any]:  # fmt: skip
    requests = int(rps * 5)
    cpu = {"server": 0.8 * 5, "database": 0.2 * 5, "wrk": 0.05 * 5, "machine": 2.0 * 5,
           "elapsed": 5.0}  # fmt: skip
    out = {
        "requests": requests,
        "seconds": 5.0,
        "rps": rps,
        "errors": errors,
        "mean_ms": p99 / 4,
        "max_ms": p99 * 1.5,
        "percentiles_ms": {"50": p99 / 5, "90": p99 / 2, "99": p99, "99.9": p99 * 1.2},
        "cpu": cpu,
        "rss_peak_bytes": rss,
    }
    out["served"] = requests + (connections // 2 if served is None else served)
    return out


def rounds_of(rng: random.Random, base: float, ratio: float, n: int) -> tuple[list, list]:
    """n rounds a side: the machine drifts between rounds, the ratio holds within one."""
    one = [base * (1 + rng.gauss(0, 0.15)) for _ in range(n)]
    return [b * ratio * (1 + rng.gauss(0, 0.01)) for b in one], one


def mix_info(ratio: float, n: int, *, p99: float = 50.0, rss: int = 60_000_000,
             errors: int = 0, served: int | None = None) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(19)
    runs = {}
    for c in (16, 64):
        two, one = rounds_of(rng, 1000.0, ratio, n)
        runs[f"1x{c}"] = [run(x, p99=p99, rss=rss, errors=errors, served=served,
                              connections=c) for x in one]  # fmt: skip
        runs[f"2x{c}"] = [run(x, p99=p99, rss=rss, connections=c) for x in two]
    return {"connections": [16, 64], "runs": runs, "idle_rss_bytes": {}}


def test_two_workers_not_met_say_what_the_machine_allows() -> None:
    """On 2 cores of which one worker's runs keep 1.6 busy, two workers reach 1.25x at
    most: a ratio goal above that cannot be met there, and the row says so."""
    info = mix_info(1.0, 6)
    for r in info["runs"]["1x16"]:
        r["cpu"] = {**r["cpu"], "machine": 1.6 * r["cpu"]["elapsed"]}
    rows = report.workers_mix_rows({**info, "cores": 2})
    low = row_of(rows, "mix: 2 vs 1 worker, token mix, 16 connections")
    assert low.verdict == "FAIL"
    assert "one worker kept 1.60 of the 2 cores busy: at most 1.25x on this machine" in low.reason
    # the 64-connection rounds kept all 2.0 busy: 1.00x; an older report has no core count
    assert "at most 1.00x" in row_of(rows, "mix: 2 vs 1 worker, token mix, 64").reason
    older = report.workers_mix_rows(info)
    assert "at most" not in row_of(older, "mix: 2 vs 1 worker, token mix, 16").reason
    met = report.workers_mix_rows({**mix_info(1.8, 6), "cores": 2})
    assert "at most" not in row_of(met, "mix: 2 vs 1 worker, token mix, 16").reason


def row_of(rows: list[report.Row], starts: str) -> report.Row:
    (row,) = [r for r in rows if r.case.startswith(starts)]
    return row


@pytest.mark.parametrize(
    ("ratio", "n", "passed"),
    [(1.8, 6, True), (1.0, 6, False), (1.5, 6, None), (1.8, 4, None)],
)
def test_two_workers_are_judged_against_one_on_the_rounds(ratio, n, passed) -> None:
    rows = report.workers_mix_rows(mix_info(ratio, n))
    for c in (16, 64):
        row = row_of(rows, f"mix: 2 vs 1 worker, token mix, {c} connections")
        assert row.verdict == VERDICT[passed], row.reason
        assert row.ratio == pytest.approx(ratio, rel=0.05)
        if passed is not True and n >= sig.MIN_ROUNDS:
            # a goal not met says where the cores went, not just the ratio
            assert "cores: server 0.80, PostgreSQL 0.20, wrk 0.05, others 0.95" in row.reason
        if n < sig.MIN_ROUNDS:
            assert "unreachable" in row.reason


@pytest.mark.parametrize(
    ("p99", "n", "passed"), [(40.0, 6, True), (180.0, 6, False), (90.0, 3, None)]
)
def test_the_p99_at_64_connections_is_judged_round_by_round(p99, n, passed) -> None:
    rows = report.workers_mix_rows(mix_info(1.8, n, p99=p99))
    row = row_of(rows, "mix: p99, one worker, 64 connections")
    assert row.verdict == VERDICT[passed], row.reason


def test_p99_rounds_straddling_the_limit_are_not_judged() -> None:
    verdict = sig.rounds_at_most([70.0, 130.0, 80.0, 120.0, 95.0, 105.0], 100.0, unit=" ms")
    assert verdict.passed is None and "either way" in verdict.reason


@pytest.mark.parametrize(("rss", "passed"), [(80_000_000, True), (120_000_000, False)])
def test_memory_under_load_is_its_highest_reading(rss, passed) -> None:
    rows = report.workers_mix_rows(mix_info(1.8, 6, rss=rss))
    row = row_of(rows, "mix: resident memory")
    assert row.passed is passed and row.value.startswith(f"{rss / 1e6:.1f} MB")


def test_the_mix_checks_wrks_count_against_the_services_and_its_errors() -> None:
    fine = report.workers_mix_rows(mix_info(1.8, 6))
    assert row_of(fine, "mix: service count").passed is True
    assert row_of(fine, "mix: error rate").passed is True
    lost = report.workers_mix_rows(mix_info(1.8, 6, served=-3))  # the service missed some
    assert row_of(lost, "mix: service count").passed is False
    failing = report.workers_mix_rows(mix_info(1.8, 6, errors=100))
    assert row_of(failing, "mix: error rate").passed is False


@pytest.mark.parametrize(
    ("ratio", "n", "passed"), [(1.5, 6, True), (0.7, 6, False), (1.2, 6, None), (1.5, 2, None)]
)
def test_the_release_comparison_is_judged_on_interleaved_rounds(ratio, n, passed) -> None:
    current, old = rounds_of(random.Random(4), 1500.0, ratio, n)
    runs = {"current": [run(x) for x in current], "release": [run(x) for x in old]}
    info = {"release": "4cec078", "connections": 16, "runs": runs}
    row = report.release_row(info)
    assert row.verdict == VERDICT[passed], row.reason
    assert "4cec078" in row.case


def test_a_release_that_cannot_be_served_is_not_judged_and_says_why() -> None:
    row = report.release_row({"skipped": "release 4cec078 not served: git history lacks it"})
    assert row.verdict == "not judged" and "git history" in row.reason


@pytest.mark.parametrize(
    ("seconds", "n", "passed"), [(0.6, 10, True), (1.6, 10, False), (0.6, 3, None)]
)
def test_restart_to_ready_is_judged_on_the_median_of_the_restarts(seconds, n, passed) -> None:
    rng = random.Random(8)
    stop = [seconds * (1 + rng.gauss(0, 0.1)) for _ in range(n)]
    info = {"stop_to_ready_seconds": stop, "spawn_to_ready_seconds": [s - 0.2 for s in stop],
            "idle_rss_bytes": [64_000_000] * n}  # fmt: skip
    restart, idle = report.restart_rows(info)
    assert restart.verdict == VERDICT[passed], restart.reason
    assert idle.passed is True  # 64 MB <= 70 MB


def test_idle_memory_over_the_limit_fails() -> None:
    info = {"stop_to_ready_seconds": [0.5] * 10, "spawn_to_ready_seconds": [0.4] * 10,
            "idle_rss_bytes": [64_000_000, 75_000_000]}  # fmt: skip
    assert report.restart_rows(info)[1].passed is False


@pytest.mark.parametrize(
    ("ratio", "n", "passed"), [(0.85, 6, True), (0.5, 6, False), (0.7, 6, None)]
)
def test_live_is_judged_against_a_bare_starlette_app(ratio, n, passed) -> None:
    ours, bare = rounds_of(random.Random(6), 9000.0, ratio, n)
    info = {"connections": 16, "runs": {"service": [run(x) for x in ours],
                                        "bare": [run(x) for x in bare]}}  # fmt: skip
    assert report.live_row(info).verdict == VERDICT[passed]


def test_a_quick_run_judges_none_of_issue_19s_goals_but_the_counts() -> None:
    result = {"options": {"quick": True}, "load": {"workers_mix": mix_info(1.8, 6)}}
    rows = report.evaluate(result)
    judged = [r for r in rows if r.passed is not None]
    assert [r.case for r in judged] == ["mix: service count vs wrk's answers"]
    assert max(len(line) for line in report.goals_table(rows).splitlines()) <= 100


def test_wrks_report_becomes_the_bench_units() -> None:
    raw = {"requests": 5000, "micros": 2_000_000, "non_2xx": 2, "socket_errors": 1,
           "mean_us": 1500.0, "max_us": 90_000, "percentiles_us": {"99": 42_000}}  # fmt: skip
    out = wrk.summarize(raw)
    assert out["rps"] == 2500.0 and out["errors"] == 3
    assert out["percentiles_ms"]["99"] == 42.0 and out["max_ms"] == 90.0
    assert "done = function" in wrk.with_done("request = nil") and wrk.MARK in wrk.DONE


def test_without_git_history_the_release_is_unavailable(tmp_path) -> None:
    from aiexpense_bench import release

    with pytest.raises(release.ReleaseUnavailable, match="git"):
        release.export_tree(release.RELEASE, tmp_path / "tree", repo=tmp_path)
