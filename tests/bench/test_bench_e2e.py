"""`aiexpense-bench --quick` end to end: pyperf workers, tracemalloc, the service in a process
of its own driven by the load generator, probes, the result file and the summary.

One quick run (a few micro-benchmarks, every load phase) is shared by the whole module.
No test asserts an absolute time: this machine is shared and only the shape is stable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from aiexpense_bench import results
from aiexpense_bench.cli import main
from tests.support import Database

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # a quick run of every phase: a minute and more

SELECT = (
    "record_operation|prometheus_client_record|create_expense|raw_insert_expense"
    "|parse_conversation$"
)


@pytest.fixture(scope="module")
def run(pg_server: str, tmp_path_factory) -> dict:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    env = {**os.environ, "DATABASE_URL": Database(pg_server, name).url}
    command = [
        sys.executable,
        "-m",
        "aiexpense_bench",
        "--quick",
        "--select",
        SELECT,
        "-o",
        str(out),
    ]
    try:
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert done.returncode == 0, done.stderr[-3000:]
    return {"path": out, "result": results.load(out), "stdout": done.stdout, "stderr": done.stderr}


def test_the_result_file_holds_the_machine_and_every_phase(run) -> None:
    result = run["result"]
    meta = result["metadata"]
    assert meta["cpu_count"] == os.cpu_count()
    assert meta["python_version"] == sys.version.split()[0]
    assert len(meta["git_commit"]) == 40
    assert len(meta["load_average_start"]) == 3 and len(meta["load_average_end"]) == 3
    assert meta["pyperf_perf_version"]
    assert result["options"]["quick"] is True
    assert json.loads(json.dumps(result["pyperf"]))["benchmarks"]


def test_each_micro_benchmark_runs_beside_its_floor(run) -> None:
    benchmarks = run["result"]["benchmarks"]
    expected = {
        "kit.record_operation": "floor.prometheus_client_record",
        "service.create_expense": "floor.raw_insert_expense",
        "service.parse_conversation": None,
    }
    for name, floor in expected.items():
        bench = benchmarks[name]
        assert bench["kind"] == "micro" and bench["unit"] == "second"
        assert len(bench["values"]) >= 3 and all(v > 0 for v in bench["values"])
        assert bench["floor"] == floor
        if floor:
            assert benchmarks[floor]["values"]
            # ratio goals: timed again beside the floor, in --quick's two interleaved rounds
            rounds = bench["interleaved"]
            assert len(rounds["case"]) == len(rounds["floor"]) == 2
            assert all(t > 0 for t in rounds["case"] + rounds["floor"])


def test_memory_per_op_is_measured_apart(run) -> None:
    memory = run["result"]["memory"]
    assert {"kit.record_operation", "service.create_expense"} <= set(memory)
    for figures in memory.values():
        assert figures["ops"] >= 20 and figures["peak_bytes"] >= 0
    # A request allocates; a record may allocate nothing at all (floats come from a free list).
    assert memory["service.create_expense"]["peak_bytes"] > 0


@pytest.mark.parametrize("scenario", ["signups", "mixed", "webhook"])
def test_load_runs_agree_with_the_services_own_count(run, scenario) -> None:
    load = run["result"]["load"][scenario]
    assert load["requests"] > 0 and load["error_rate_percent"] == 0.0
    assert set(load["latency_ms"]) == {"mean", "p50", "p95", "p99", "max"}
    service = load["service"]
    assert service["instrumented"] is True
    assert service["agree"] is True, service
    assert service["difference_percent"] <= 1.0
    assert service["operations_per_request"] > 1  # cache and database operations as well


def test_the_mixed_load_checks_caches_memory_and_instrumentation(run) -> None:
    load = run["result"]["load"]
    mixed = load["mixed"]
    assert set(mixed["by_label"]) == {
        "get_expenses",
        "create_expense",
        "signup",
        "categories",
        "summary",
    }
    assert 0 < mixed["service"]["cache_hit_rate_percent"] <= 100
    assert mixed["service"]["rss_peak_bytes"] > 10_000_000
    assert load["mixed_off"]["service"]["instrumented"] is False
    cost = load["instrumentation"]
    assert cost["on_rps"] > 0 and cost["off_rps"] > 0 and "p_value" in cost
    assert load["paced"]["rate"] > 0 and load["paced"]["requests"] > 0


def test_probes_are_measured_against_live(run) -> None:
    probes = run["result"]["load"]["probes"]
    assert set(probes["by_label"]) == {"live", "health", "ready"}
    assert set(probes["p99_ratio"]) == {"health", "ready"}
    assert all(r > 0 for r in probes["p99_ratio"].values())


def test_the_summary_names_each_goal_with_a_verdict(run) -> None:
    goals = {g["case"]: g for g in run["result"]["goals"]}
    assert goals["kit.record_operation"]["floor"].startswith("floor.prometheus_client_record")
    assert goals["service.create_expense"]["ratio"] > 0
    # --quick is a smoke test: only exact checks (counts agreeing) get a verdict.
    judged = [g for g in goals.values() if g["passed"] is not None]
    assert judged and all(g["exact"] for g in judged)
    smoke = [g for g in goals.values() if g["reason"].startswith("--quick")]
    assert len(smoke) >= 10 and all(g["passed"] is None for g in smoke)
    out = run["stdout"]
    assert "goals met" in out and "not judged" in out
    assert "memory per op" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_progress_is_shown_while_it_runs(run) -> None:
    err = run["stderr"]
    for marker in ("[1/11] database", "[2/11] micro", "[4/11] load", "[5/11] probes",
                   "[6/11] workers", "[7/11] compare-release", "[8/11] footprint", "[9/11] live",
                   "[10/11] middleware", "[11/11] storm"):  # fmt: skip
        assert marker in err
    assert "signups" in err and "req/s" in err and "probes:health" in err
    goals = {g["case"]: g for g in run["result"]["goals"]}
    assert goals["workers: service count vs wrk's answers"]["passed"]  # exact, even --quick


def test_issue_19s_phases_run_and_report_each_goal(run) -> None:
    load = run["result"]["load"]
    runs = load["workers_mix"]["runs"]
    assert set(runs) == {"1x16", "1x64", "2x16", "2x64"}
    for side in runs.values():
        assert side[0]["requests"] > 0 and side[0]["errors"] == 0
        assert side[0]["cpu"]["server"] > 0 and side[0]["cpu"]["database"] is not None
    if "skipped" in load["release"]:  # a clone without the release's history (shallow)
        assert "git" in load["release"]["skipped"]
    else:
        assert set(load["release"]["runs"]) == {"current", "release"}
        assert load["release"]["runs"]["release"][0]["requests"] > 0
    assert all(s > 0 for s in load["restarts"]["stop_to_ready_seconds"])
    assert set(load["live"]["runs"]) == {"service", "bare"}
    cases = " ".join(g["case"] for g in run["result"]["goals"])
    for name in ("mix: 2 vs 1 worker", "mix: p99", "release:", "restart:", "live:", "middleware:",
                 "storm: trivial p50", "storm: event-loop"):  # fmt: skip
        assert name in cases
    storm = load["storm"]
    assert storm["storm"]["scrapes"] > 0 and storm["storm"]["path"] == "/monitoring/metrics"
    assert len(storm["lag"]["max_lag_with"]) == len(storm["lag"]["max_lag_without"]) >= 1
    middleware = load["middleware"]["runs"]
    assert set(middleware) == {"bare", "ours", "starlette_exporter"}
    assert all(v > 0 for values in middleware.values() for v in values)
    goals = {g["case"]: g for g in run["result"]["goals"]}
    assert goals["mix: service count vs wrk's answers"]["passed"]  # exact, even --quick


def test_a_run_compared_with_itself_shows_no_change(run, capsys) -> None:
    path = str(run["path"])
    assert main(["compare", path, path, "--fail-on-regression", "0"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert rows and all(" ~ " in row or row.startswith("[geomean]") for row in rows)
