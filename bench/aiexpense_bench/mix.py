"""The mixed API with person tokens under wrk (issue 19): several services, interleaved rounds.

    workers          one worker process against two, at 16 and 64 connections; the p99 at
                     64 connections and the resident memory under the mix (one worker)
    compare-release  the service (tokens) against the release before authentication
                     (``release.RELEASE``, its own mix without tokens), at 16 connections

Every service runs for the whole phase and the rounds alternate between them (A B, B A,
...), so the machine's drift hits each side alike; the goals are judged on the rounds'
ratios (report.py). Each run also records where the CPU went (``wrk.Cpu``): on this
2-core machine wrk, PostgreSQL and the workers share the cores, and the ratio two workers
can reach is bounded by what is left for them.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil

from . import load, wrk, wrk_mix
from .server import ServiceProcess

CONNECTIONS = (16, 64)
RELEASE_CONNECTIONS = 16


def _served(url: str) -> int:
    """The service's count of top-level operations (one per answered API request)."""
    with urllib.request.urlopen(f"{url}/monitoring/metrics") as r:
        operations = json.load(r)
    return sum(int(operations.get(op, {}).get("count", 0)) for op in set(load.TOP_LEVEL.values()))


def _settled(url: str, every: float = 0.1, limit: float = 5.0) -> int:
    """The count once no request is left in flight from the run before (it stopped
    growing): otherwise the previous run's stragglers would count in the next one."""
    deadline, last = time.monotonic() + limit, _served(url)
    while time.monotonic() < deadline:
        time.sleep(every)
        now = _served(url)
        if now == last:
            return now
        last = now
    return last


def serving_rss(pid: int) -> list[int]:
    """Resident bytes of each process that serves requests: ``pid`` alone, or its worker
    children when it is a supervisor (``exporter serve --workers N``)."""
    root = psutil.Process(pid)
    workers = [c for c in root.children() if "spawn" in " ".join(c.cmdline())]
    return [p.memory_info().rss for p in workers or [root]]


@contextmanager
def peak_rss(pid: int, every: float = 0.25) -> Iterator[list[int]]:
    """The highest resident memory of any serving process of ``pid`` while inside."""
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(every):
            with suppress(psutil.Error):  # a worker replaced between listing and reading
                peak[0] = max([peak[0], *serving_rss(pid)])

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def _script(tmp: Path, name: str, text: str) -> Path:
    path = tmp / f"{name}.lua"
    path.write_text(wrk.with_done(text))
    return path


def _round(
    wrk_path: str, service: ServiceProcess, script: Path, connections: int, seconds: float,
    database_pid: int | None, counted: bool = True,
) -> dict[str, Any]:  # fmt: skip
    before = _settled(service.url) if counted else 0
    with peak_rss(service.pid or 0) as peak:
        run = wrk.run(
            wrk_path,
            service.url,
            script,
            connections=connections,
            seconds=seconds,
            server_pid=service.pid,
            database_pid=database_pid,
        )
    run["rss_peak_bytes"] = peak[0] or None
    if counted:
        run["served"] = _served(service.url) - before
    return run


def interleave(rounds: int, sides: list[str], measure: Callable[[str], Any]) -> dict[str, list]:
    """``rounds`` of ``measure(side)`` for every side, the order reversed every other round."""
    runs: dict[str, list] = {side: [] for side in sides}
    for n in range(rounds):
        for side in sides if n % 2 == 0 else sides[::-1]:
            runs[side].append(measure(side))
    return runs


def workers(
    wrk_path: str, database_url: str, tmp: Path, *, rounds: int, seconds: float, warmup: float,
    people: int,
) -> dict[str, Any]:  # fmt: skip
    """One worker against two on the token mix at each of ``CONNECTIONS``."""
    database = wrk.database_pid(database_url)
    with (
        ServiceProcess(database_url, workers=1) as one,
        ServiceProcess(database_url, workers=2) as two,
    ):
        idle = {"1": serving_rss(one.pid or 0), "2": serving_rss(two.pid or 0)}
        script = _script(tmp, "mix", asyncio.run(wrk_mix.prepare(one.url, people, 5)))
        services = {"1": one, "2": two}
        for service in services.values():  # caches filled, connections open
            wrk.run(wrk_path, service.url, script, connections=16, seconds=warmup)
        sides = [f"{w}x{c}" for w in services for c in CONNECTIONS]
        runs = interleave(
            rounds,
            sides,
            lambda side: _round(
                wrk_path, services[side.split("x")[0]], script, int(side.split("x")[1]),
                seconds, database,
            ),
        )  # fmt: skip
    return {
        "connections": list(CONNECTIONS),
        "runs": runs,
        "idle_rss_bytes": idle,
        "database_measured": database is not None,
        "cores": os.cpu_count(),  # what bounds the ratio (report.scaling_ceiling)
    }


def compare_release(
    wrk_path: str, database_url: str, tmp: Path, *, rounds: int, seconds: float, warmup: float,
    people: int,
) -> dict[str, Any]:  # fmt: skip
    """The service with tokens against the release without, ``RELEASE_CONNECTIONS`` each."""
    from . import release

    try:
        context = release.served(database_url)
        old = context.__enter__()
    except release.ReleaseUnavailable as exc:
        return {"skipped": f"release {release.RELEASE} not served: {exc}"}
    try:
        with ServiceProcess(database_url) as new:
            scripts = {
                "current": _script(tmp, "mix", asyncio.run(wrk_mix.prepare(new.url, people, 5))),
                "release": _script(tmp, "release", release.mix_script(old.url, people, 5)),
            }
            services: dict[str, ServiceProcess] = {"current": new, "release": old}
            for side, service in services.items():
                wrk.run(wrk_path, service.url, scripts[side], connections=16, seconds=warmup)
            runs = interleave(
                rounds,
                list(services),
                lambda side: _round(
                    wrk_path, services[side], scripts[side], RELEASE_CONNECTIONS, seconds,
                    None, counted=False,
                ),
            )  # fmt: skip
    finally:
        context.__exit__(None, None, None)
    return {"release": release.RELEASE, "connections": RELEASE_CONNECTIONS, "runs": runs}
