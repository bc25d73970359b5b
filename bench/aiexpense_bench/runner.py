"""``aiexpense-bench``: every phase in order, one result file, a summary at the end.

    [1/11] database         an embedded PostgreSQL of this run's own (or $DATABASE_URL)
    [2/11] micro            pyperf: python -m aiexpense_bench.suite, in worker processes;
                           then each ratio goal's case beside its floor, interleaved rounds
    [3/11] memory           tracemalloc: python -m aiexpense_bench.memory, a process of its own
    [4/11] load             exporter serve (instrumentation on, and off) + the load generator:
                           Concurrent Signups, Mixed Operations (on/off rounds), Mixed paced
    [5/11] probes           health and ready against live
    [6/11] workers          exporter serve with 1 and 2 worker processes, alternating rounds:
                           wrk on GET /api/categories, then wrk on the token mix at 16 and
                           64 connections (p99, resident memory under load, CPU per party)
    [7/11] compare-release  the token mix against the release before authentication (its
                           own mix, no tokens), served from git history; skipped without it
    [8/11] footprint        restarts: SIGTERM to the next process's ready; idle memory
    [9/11] live             GET /monitoring/live against a bare Starlette app, same uvicorn
    [10/11] middleware      server CPU per request of a trivial endpoint through a real
                           uvicorn: bare, with HttpMetricsMiddleware, with starlette-exporter
    [11/11] storm           a kit-only app of 256 operations: a trivial request's p50 while
                           4 clients read /monitoring/metrics; event-loop lag with the sampler

The wrk phases (6, 7, 9) need wrk (Debian: apt-get install wrk) and a service of their own
(not with --url).

Every process is a child of this one; the service and the load generator never share one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from . import report, results
from .compare import mann_whitney_p
from .server import ServiceProcess, bench_database

PHASES = (
    "micro", "memory", "load", "probes", "workers", "compare-release", "footprint", "live",
    "middleware", "storm",
)  # fmt: skip
# The cases of aiexpense_bench.mp_cases (which exist only under multiprocess mode).
MULTIPROCESS_CASES = (
    "mp.record_operation", "mp.floor_record", "mp.time_with", "mp.floor_inline_timed",
    "mp.record_exemplar", "mp.record_exemplar_native",
    "mp.scrape_after_60_restarts", "mp.scrape_after_60_restarts_hookless", "mp.scrape_4_workers",
    "mp.scrape_4_workers_undetected", "mp.sweep_4_workers", "ref.mp_scrape_64_uncompacted",
)  # fmt: skip
# The webhook's end-to-end latency is measured under light load (issue 5), not saturation.
WEBHOOK_USERS, WEBHOOK_RATE = 4, 50.0


@dataclass(frozen=True)
class Plan:
    """How long and how hard each phase runs (``--quick`` picks the small one)."""

    pyperf_args: tuple[str, ...]
    memory_seconds: float
    duration: float
    warmup: float
    rounds: int
    people: int
    probe_slices: int
    wrk_seconds: float  # each wrk round of the mix, release and live phases
    restarts: int
    middleware_rounds: int  # the middleware phase's rounds (every kind in each)
    middleware_requests: int  # per kind and round
    storm_rounds: int  # the storm phase's rounds (idle, then 4 readers; without, then with)
    storm_seconds: float  # each half of a storm round
    interleaved_rounds: int  # the micro ratio goals' interleaved rounds (``interleaved``)
    interleaved_seconds: float  # each side of such a round


# pyperf's --fast still spawns 10 worker processes per benchmark (3 minutes for this
# suite here), so --quick asks for one worker of 3 values: a smoke test, not a verdict.
# Six mixed rounds a side: the paired test of the instrumentation cost needs at least five
# to reach p < 0.05 at all (report.py, significance.py).
FULL = Plan((), 1.0, 8.0, 3.0, 6, 200, 6, 5.0, 10, 21, 8000, 7, 2.0, 15, 0.1)
QUICK = Plan(
    ("--processes=1", "--values=3", "--min-time=0.05"),
    0.2,
    3.0,
    1.0,
    1,
    30,
    3,
    1.0,
    2,
    1,
    500,
    1,
    0.5,
    2,
    0.01,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quick",
        action="store_true",
        help="seconds, not minutes: 1 pyperf worker a case, 3 s load runs (CI)",
    )
    p.add_argument(
        "--no-instrumentation",
        action="store_true",
        help="run the service with EXPORTER_INSTRUMENTATION=off (a NullCollector)",
    )
    p.add_argument("-o", "--output", help="result file (default bench-results/<time>.json)")
    p.add_argument("--only", help=f"comma-separated phases to run, of: {','.join(PHASES)}")
    p.add_argument("--select", help="micro-benchmarks and memory cases: names matching REGEX")
    p.add_argument("--url", help="drive this running service instead of starting one")
    p.add_argument("--users", type=int, default=16, help="concurrent virtual users (16)")
    p.add_argument("--duration", type=float, help="measured seconds per load run")
    p.add_argument(
        "--rate", type=float, default=200.0, help="requests/s of the paced mixed run (200)"
    )
    p.add_argument("--rounds", type=int, help="mixed-load rounds, instrumentation on and off")
    p.add_argument(
        "--pyperf",
        default="",
        help='extra pyperf options, e.g. --pyperf="--fast" or --pyperf="-p 10"',
    )


def step(n: int, title: str) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n[{n}/{len(PHASES) + 1}] {title}  (load average {load})", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    plan = QUICK if args.quick else FULL
    phases = set(args.only.split(",")) if args.only else set(PHASES)
    unknown = phases - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phase(s): {', '.join(sorted(unknown))}; one of {PHASES}")
    output = Path(args.output) if args.output else results.default_path()
    result: dict[str, Any] = {
        "format": results.FORMAT,
        "metadata": results.machine_metadata(),
        "options": _options(args, plan, phases),
        "benchmarks": {},
    }
    started = time.monotonic()
    step(1, "database")
    # the middleware phase serves a trivial app of its own, no database
    needs_db = bool(phases & {"micro", "memory"}) or (
        not args.url and bool(phases - {"middleware", "storm"})
    )
    with (
        bench_database(os.environ.get("DATABASE_URL")) if needs_db else nullcontext("") as url,
        tempfile.TemporaryDirectory(prefix="exporter-bench-") as tmp,
    ):
        env = _child_env(url, instrumentation=not args.no_instrumentation)
        if phases & {"micro", "memory"}:
            _prepare(env)
        if "micro" in phases:
            step(2, "micro-benchmarks (pyperf)")
            _micro(result, args, plan, env, Path(tmp))
        if "memory" in phases:
            step(3, "memory per op (tracemalloc)")
            result["memory"] = _memory(args, plan, env, Path(tmp))
        if phases & {"load", "probes"}:
            result["load"] = _load(args, plan, phases, url, Path(tmp))
        if "workers" in phases and not args.url:
            step(6, "workers: wrk on GET /api/categories, one worker process against two")
            result.setdefault("load", {})["workers"] = _workers(args, plan, url, Path(tmp))
        _wrk_phases(result.setdefault("load", {}), args, plan, phases, url, Path(tmp))
        if "middleware" in phases:
            step(10, "middleware: server CPU per request through a real uvicorn")
            result.setdefault("load", {})["middleware"] = _middleware(args, plan)
        if "storm" in phases:
            step(11, "storm: /monitoring/metrics read by 4 clients, event-loop lag, 256 operations")
            result.setdefault("load", {})["storm"] = _storm(args, plan, Path(tmp))
    _finish(result, started)
    path = results.save(result, output)
    _print_summary(result, path)
    return 0


def _options(args: argparse.Namespace, plan: Plan, phases: set[str]) -> dict[str, Any]:
    return {
        "quick": args.quick,
        "instrumentation": not args.no_instrumentation,
        "phases": sorted(phases),
        "users": args.users,
        "rate": args.rate,
        "duration": args.duration or plan.duration,
        "rounds": args.rounds or plan.rounds,
        "url": args.url,
        "select": args.select,
    }


def _child_env(database_url: str, *, instrumentation: bool) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "EXPORTER_INSTRUMENTATION": "on" if instrumentation else "off",
    }


def _prepare(env: dict[str, str]) -> None:
    """Migrate and seed once, before any worker starts (workers only read the seed)."""
    from aiexpense.config import Settings

    from . import service_cases

    asyncio.run(service_cases.prepare(Settings.from_env(env)))


def _python(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, *args], env=env, check=True)


# -- micro and memory --------------------------------------------------------------------


def _micro(result: dict[str, Any], args, plan: Plan, env: dict[str, str], tmp: Path) -> None:
    _pyperf_suite(result, "pyperf", args, plan, env, tmp)
    _interleaved(result["benchmarks"], args, plan, env, tmp)
    if args.select and not any(re.search(args.select, name) for name in MULTIPROCESS_CASES):
        return
    # The multiprocess cases: a suite of their own, prometheus-client picks its mode at import.
    directory = tmp / "multiprocess"
    directory.mkdir()
    mp_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    _pyperf_suite(result, "pyperf_multiprocess", args, plan, mp_env, tmp)


def _pyperf_suite(
    result: dict[str, Any], key: str, args, plan: Plan, env: dict[str, str], tmp: Path
) -> None:
    out = tmp / f"{key}.json"
    command = [
        "-m",
        "aiexpense_bench.suite",
        "--inherit-environ",
        "DATABASE_URL,EXPORTER_INSTRUMENTATION,PROMETHEUS_MULTIPROC_DIR",
        "--quiet",
        "-o",
        str(out),
        *plan.pyperf_args,
        *args.pyperf.split(),
    ]
    if args.select:
        command += ["--select", args.select]
    _python(*command, env=env)
    if not out.exists():  # --select picked none of this suite's cases
        return
    benchmarks, pyperf_meta = results.pyperf_benchmarks(out)
    result["benchmarks"].update(benchmarks)
    result["metadata"].update(pyperf_meta)
    result[key] = json.loads(out.read_text())


def _interleaved(
    benchmarks: dict[str, Any], args, plan: Plan, env: dict[str, str], tmp: Path
) -> None:
    """The ratio goals' cases again, each in rounds with its floor (``interleaved``): the
    rounds go beside pyperf's figures, and the report judges the goal on them."""
    out = tmp / "interleaved.json"
    command = ["-m", "aiexpense_bench.interleaved", "-o", str(out)]
    command += ["--rounds", str(plan.interleaved_rounds)]
    command += ["--seconds", str(plan.interleaved_seconds)]
    if args.select:
        command += ["--select", args.select]
    _python(*command, env=env)
    for name, rounds in json.loads(out.read_text()).items():
        if name in benchmarks:
            benchmarks[name]["interleaved"] = rounds


def _memory(args, plan: Plan, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    out = tmp / "memory.json"
    command = [
        "-m",
        "aiexpense_bench.memory",
        "--seconds",
        str(plan.memory_seconds),
        "-o",
        str(out),
    ]
    if args.select:
        command += ["--select", args.select]
    _python(*command, env=env)
    return json.loads(out.read_text())


# -- load and probes ---------------------------------------------------------------------


@contextlib.contextmanager
def _services(args, database_url: str, with_other: bool) -> Iterator[dict[bool, str]]:
    """{instrumentation on?: url}: the main service, and the opposite one when compared."""
    main = not args.no_instrumentation
    if args.url:
        yield {main: args.url.rstrip("/")}
        return
    wanted = [main, not main] if with_other else [main]
    started = [ServiceProcess(database_url, instrumentation=mode) for mode in wanted]
    try:
        for service in started:
            service.start()
        yield {s.instrumentation: s.url for s in started}
    finally:
        for service in started:
            service.stop()


def _load_run(url: str, scenario: str, args, plan: Plan, tmp: Path, **extra: Any) -> dict:
    out = tmp / f"load-{scenario}-{time.monotonic_ns()}.json"
    options = {
        "users": args.users,
        "duration": args.duration or plan.duration,
        "warmup": plan.warmup,
        "people": plan.people,
        "slices": plan.probe_slices,
        **extra,
    }
    flags = [f"--{k}={v}" for k, v in options.items()]
    _python(
        "-m",
        "aiexpense_bench.load",
        "--url",
        url,
        "--scenario",
        scenario,
        *flags,
        "-o",
        str(out),
        env=dict(os.environ),
    )
    return json.loads(out.read_text())


def _load(args, plan: Plan, phases: set[str], database_url: str, tmp: Path) -> dict[str, Any]:
    from .load import merge_runs

    measure_cost = "load" in phases and not args.url and not args.no_instrumentation
    main = not args.no_instrumentation
    load: dict[str, Any] = {}
    with _services(args, database_url, with_other=measure_cost) as urls:
        if "load" in phases:
            modes = ", ".join(_modes(urls))
            step(4, f"load: Concurrent Signups, Mixed Operations ({modes}), webhook")
            load["signups"] = _load_run(urls[main], "signups", args, plan, tmp)
            rounds = _mixed_rounds(urls, args, plan, tmp)
            load["mixed"] = merge_runs(rounds[main])
            if measure_cost:
                load["mixed_off"] = merge_runs(rounds[False])
                load["instrumentation"] = instrumentation_cost(rounds[True], rounds[False])
            load["paced"] = _load_run(urls[main], "mixed", args, plan, tmp, rate=args.rate)
            if not args.url or os.environ.get("TELEGRAM_SECRET_TOKEN"):
                load["webhook"] = _load_run(
                    urls[main], "webhook", args, plan, tmp, users=WEBHOOK_USERS, rate=WEBHOOK_RATE
                )
        if "probes" in phases:
            step(5, "probes: /monitoring/health and /monitoring/ready against /monitoring/live")
            load["probes"] = _load_run(urls[main], "probes", args, plan, tmp)
    return load


def _workers(args, plan: Plan, database_url: str, tmp: Path) -> dict[str, Any]:
    """Throughput of one and two worker processes on a cached read, in alternating rounds.

    The load comes from wrk (Debian's, in C): on 2 cores a Python load generator needs a
    core of its own and caps what a second worker can show. Each round also checks the
    service's count against wrk's: equal but for requests in flight when the warm-up or the
    measured run stopped (at most one per connection each)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk is not installed (Debian: apt-get install wrk)"}
    rounds: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for n in range(args.rounds or plan.rounds):
        for workers in (1, 2) if n % 2 == 0 else (2, 1):
            with ServiceProcess(database_url, workers=workers) as service:
                rounds[workers].append(_wrk_round(wrk, service.url, plan))
    return {
        "rounds": [[r["rps"] for r in rounds[n]] for n in (2, 1)],
        "counts": [(r["served"], r["answered"]) for n in (1, 2) for r in rounds[n]],
        "connections": WRK_CONNECTIONS,
    }


def _wrk_phases(
    load: dict[str, Any], args, plan: Plan, phases: set[str], url: str, tmp: Path
) -> None:
    """The phases of issue 19, each a set of services measured by wrk in interleaved rounds."""
    from . import footprint, mix

    wanted = phases & {"workers", "compare-release", "footprint", "live"}
    if not wanted or args.url:
        return
    wrk = shutil.which("wrk")
    rounds = args.rounds or plan.rounds
    timing = {"rounds": rounds, "seconds": plan.wrk_seconds, "warmup": plan.warmup}
    for name in sorted(wanted - {"footprint"} if wrk is None else (), key=PHASES.index):
        load[WRK_KEYS[name]] = {"skipped": "wrk is not installed (apt-get install wrk)"}
    if wrk is not None and "workers" in phases:
        step(6, "workers: the token mix (wrk) at 16 and 64 connections, one worker against two")
        load["workers_mix"] = mix.workers(wrk, url, tmp, people=plan.people, **timing)
    if wrk is not None and "compare-release" in phases:
        step(7, "compare-release: the token mix against the release before authentication")
        load["release"] = mix.compare_release(wrk, url, tmp, people=plan.people, **timing)
        if "skipped" in load["release"]:
            print(f"  skipped: {load['release']['skipped']}", file=sys.stderr, flush=True)
    if "footprint" in phases:  # no wrk needed
        step(8, "footprint: restarts (SIGTERM to the next one's ready), idle memory")
        load["restarts"] = footprint.restarts(url, plan.restarts)
    if wrk is not None and "live" in phases:
        step(9, "live: GET /monitoring/live against a bare Starlette app (wrk)")
        load["live"] = footprint.live(wrk, url, tmp, **timing)


def _middleware(args, plan: Plan) -> dict[str, Any]:
    """Issue 10, 18 and 19's goals where the user pays them: a server's CPU per request."""
    from . import http_server

    rounds = max(args.rounds or plan.rounds, plan.middleware_rounds)
    kinds = ("bare", "ours", "starlette_exporter")
    runs = http_server.measure(kinds, rounds, plan.middleware_requests)
    return {"runs": runs, "requests": plan.middleware_requests, "unit": "us/request"}


def _storm(args, plan: Plan, tmp: Path) -> dict[str, Any]:
    """Issue 19's read-path goals, on a kit-only app (``aiexpense_bench.storm``)."""
    from . import http_server
    from .server import free_port

    port = free_port()
    rounds = ("--rounds", str(max(args.rounds or plan.rounds, plan.storm_rounds)))
    rounds += ("--seconds", str(plan.storm_seconds))
    env = dict(os.environ)
    server = subprocess.Popen([sys.executable, "-m", "aiexpense_bench.storm", "serve", "--port",
                               str(port)], env=env)  # fmt: skip
    try:
        http_server._wait_up(f"http://127.0.0.1:{port}/monitoring/live")
        out = tmp / "storm.json"
        _python("-m", "aiexpense_bench.storm", "storm", "--url", f"http://127.0.0.1:{port}",
                *rounds, "-o", str(out), env=env)  # fmt: skip
        found = {"storm": json.loads(out.read_text())}
    finally:
        server.terminate()
        server.wait()
    _python("-m", "aiexpense_bench.storm", "lag", *rounds, "-o", str(out), env=env)
    found["lag"] = json.loads(out.read_text())
    return found


WRK_KEYS = {"workers": "workers_mix", "compare-release": "release", "live": "live"}


# Enough connections that the kernel spreads them over the workers (keep-alive connections
# stay with the worker that accepted them: with few, one worker may hold them all).
WRK_CONNECTIONS = 64


def _wrk_round(wrk: str, url: str, plan: Plan) -> dict[str, float]:
    target = f"{url}/api/categories"
    command = [wrk, "-t1", f"-c{WRK_CONNECTIONS}"]
    subprocess.run([*command, f"-d{plan.warmup:g}s", target], capture_output=True, check=True)
    before = _served(url)
    out = subprocess.run(
        [*command, f"-d{plan.duration:g}s", target], capture_output=True, text=True, check=True
    ).stdout
    answered = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "answered": answered, "served": _served(url) - before}


def _served(url: str) -> int:
    with urllib.request.urlopen(f"{url}/monitoring/operation?name=list_categories") as r:
        return int(json.load(r)["count"])


def _modes(urls: dict[bool, str]) -> list[str]:
    return [f"instrumentation {'on' if mode else 'off'}" for mode in urls]


def _mixed_rounds(urls: dict[bool, str], args, plan: Plan, tmp: Path) -> dict[bool, list]:
    """Rounds alternate between the services (on, off, off, on, ...) so drift hits both."""
    rounds: dict[bool, list] = {mode: [] for mode in urls}
    order = list(urls)
    for n in range(args.rounds or plan.rounds):
        for mode in order if n % 2 == 0 else reversed(order):
            rounds[mode].append(_load_run(urls[mode], "mixed", args, plan, tmp))
    return rounds


def _rps(runs: list[dict]) -> float:
    return sum(r["requests"] for r in runs) / sum(r["elapsed_seconds"] for r in runs)


def instrumentation_cost(on: list[dict], off: list[dict]) -> dict[str, Any]:
    """Throughput with instrumentation on vs off over all rounds, and its significance.

    The test compares whole rounds, not seconds: the seconds of one round are not
    independent (the machine drifts), and treating them as such finds "significant"
    differences that are only drift. Fewer than 4 rounds a side can never reach p < 0.05.
    (The goal itself is judged in report.py on the paired rounds.)
    """
    on_rps, off_rps = _rps(on), _rps(off)
    on_rounds = [r["throughput_rps"] for r in on]
    off_rounds = [r["throughput_rps"] for r in off]
    p = mann_whitney_p(on_rounds, off_rounds)
    paired = median(100.0 * (1.0 - a / b) for a, b in zip(on_rounds, off_rounds, strict=True))
    return {
        "on_rps": round(on_rps, 1),
        "off_rps": round(off_rps, 1),
        "cost_percent": round(100.0 * (1.0 - on_rps / off_rps), 2),
        "paired_cost_percent": round(paired, 2),  # median of each round's own on/off cost
        "p_value": None if p is None else round(p, 4),
        "rounds": [on_rounds, off_rounds],
    }


# -- the end -----------------------------------------------------------------------------


def _finish(result: dict[str, Any], started: float) -> None:
    load = result.get("load", {})
    for name in ("signups", "mixed", "mixed_off"):  # closed loops: paced ones run at a set rate
        if name in load:
            bench = results.load_benchmark(load[name])
            if bench is not None:
                result["benchmarks"][f"load.{name}.time_per_request"] = bench
    result["metadata"]["load_average_end"] = results.load_average()
    result["metadata"]["seconds"] = round(time.monotonic() - started, 1)
    result["goals"] = report.as_json(report.evaluate(result))


def _print_summary(result: dict[str, Any], path: Path) -> None:
    rows = [report.Row(**g) for g in result["goals"]]
    meta = result["metadata"]
    print("\n" + report.goals_table(rows))
    if result.get("memory"):
        print(
            "\nmemory per op (tracemalloc, separate runs)\n" + report.memory_table(result["memory"])
        )
    passed, judged = report.passed_count(rows)
    if result["options"].get("quick"):
        text = (
            "--quick: a smoke test. It judges NO goal: every PASS/FAIL above is an exact"
            " count (service vs client), never a speed or memory goal; run without --quick"
            " for verdicts."
        )
        print("\n" + textwrap.fill(text, report.WIDTH))
    line = (
        f"{passed} of {judged} goals met, {report.not_judged_count(rows)} not judged; load"
        f" average {meta['load_average_start']} at the start, {meta['load_average_end']} at"
        f" the end; {meta['seconds']:.0f} s"
    )
    print("\n" + textwrap.fill(line, report.WIDTH))
    print(textwrap.fill(f"saved {path}", report.WIDTH))
