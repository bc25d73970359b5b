"""Scrape storm and event-loop lag: what reading the metrics costs the requests beside it.

``python -m aiexpense_bench.storm serve --port P --operations 256`` serves a kit-only app
whose collector holds 256 recorded operations (no database: only the kit is measured).
``python -m aiexpense_bench.storm storm --url URL`` probes ``/monitoring/live`` at a steady
rate, idle and while 4 connections read ``--path`` (``/monitoring/metrics``, the JSON view of
every operation; or ``/metrics``) back to back, in alternating rounds.
``python -m aiexpense_bench.storm lag --operations 256`` measures the event loop's lag (how
late a 1 ms sleep wakes) with and without the health sampler running every 0.25 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any

from .results import emit

SCRAPERS = 4
PROBE_RATE = 100.0  # requests/s


def _collector(operations: int) -> Any:
    from exporter import MetricsCollector

    collector = MetricsCollector(namespace="storm", max_operations=operations)
    for i in range(operations):
        for n in range(50):
            collector.record_operation(f"op_{i}", 0.0001 * (1 + (i + n) % 40))
    return collector


def serve(args: argparse.Namespace) -> None:
    import uvicorn
    from starlette.applications import Starlette

    from exporter import HealthChecker, MonitoringHandler, Thresholds

    collector = _collector(args.operations)
    health = HealthChecker(None, collector, Thresholds())
    handler = MonitoringHandler(health, collector, metrics_cache_seconds=args.cache)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        await health.start()
        yield
        await health.stop()

    app = Starlette(routes=handler.routes(), lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


async def _probe(session: Any, url: str, seconds: float) -> list[float]:
    latencies = []
    interval = 1.0 / PROBE_RATE
    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        start = time.perf_counter()
        async with session.get(url + "/monitoring/live") as response:
            await response.read()
        latencies.append(time.perf_counter() - start)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return latencies


async def _scrape(session: Any, url: str, stop: asyncio.Event) -> int:
    done = 0
    while not stop.is_set():
        async with session.get(url) as response:
            await response.read()
        done += 1
    return done


async def storm(args: argparse.Namespace) -> dict[str, Any]:
    from statistics import median

    import aiohttp

    idle, stormy, scrapes = [], [], 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
        await _probe(session, args.url, 0.5)  # warm-up
        for _ in range(args.rounds):
            idle.append(median(await _probe(session, args.url, args.seconds)))
            stop = asyncio.Event()
            scrapers = [
                asyncio.create_task(_scrape(session, args.url + args.path, stop))
                for _ in range(SCRAPERS)
            ]
            stormy.append(median(await _probe(session, args.url, args.seconds)))
            stop.set()
            scrapes += sum(await asyncio.gather(*scrapers))
    return {"idle_p50": idle, "storm_p50": stormy, "scrapes": scrapes, "path": args.path}


async def _lag(seconds: float) -> list[float]:
    """How late each 1 ms sleep wakes, for ``seconds``."""
    lags = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - start - 0.001)
    return lags


async def lag(args: argparse.Namespace) -> dict[str, Any]:
    from exporter import HealthChecker, Thresholds

    collector = _collector(args.operations)
    checker = HealthChecker(None, collector, Thresholds(interval_seconds=0.25))
    quiet, sampled = [], []
    for _ in range(args.rounds):
        quiet.append(max(await _lag(args.seconds)))
        await checker.start()
        sampled.append(max(await _lag(args.seconds)))
        await checker.stop()
    return {"max_lag_without": quiet, "max_lag_with": sampled}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiexpense_bench.storm", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--operations", type=int, default=256)
    s.add_argument("--cache", type=float, default=0.0, help="metrics_cache_seconds")
    for name in ("storm", "lag"):
        c = sub.add_parser(name)
        c.add_argument("--url", default="")
        c.add_argument("--operations", type=int, default=256)
        c.add_argument("--rounds", type=int, default=6)
        c.add_argument("--seconds", type=float, default=2.0)
        c.add_argument("-o", "--output")
        c.add_argument("--path", default="/monitoring/metrics", help="what the 4 readers read")
    args = p.parse_args(argv)
    if args.command == "serve":
        serve(args)
        return 0
    result = asyncio.run(storm(args) if args.command == "storm" else lag(args))
    emit(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
