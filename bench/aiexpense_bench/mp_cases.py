"""Micro-benchmarks under prometheus-client's multiprocess mode, each beside its floor.

prometheus-client picks its value class when it is imported, so these run in a pyperf suite
of their own with ``PROMETHEUS_MULTIPROC_DIR`` set (``aiexpense-bench`` does that); the cases
then exist only in that mode (``CASES`` is empty otherwise).

Scrapes of several workers are measured on directories of worker files made the way real
workers make them: this process records, and its files are copied under the pids of real
processes: live ones (``sleep``, each with its mark) for the workers that run, and pids of
processes that have exited for the workers that restarted. With dead-worker detection on (the
kit's default, what plain ``uvicorn --workers`` gets) every scrape first looks for pids gone;
the restarts are compacted by the first, untimed scrape (once per death, as the workers' own
beat would), so the timed ones are the steady state after 60 restarts.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from time import perf_counter

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values

from aiexpense.domain.operations import Op
from exporter import DEFAULT_BUCKETS, MetricsCollector
from exporter.exemplars import current_trace
from exporter.multiprocess import ServerCollector, mark_alive, mark_process_dead, sweep

from . import kit_cases

LIVE = 4
RESTARTS = 60


def floor_record(loops: int) -> float:
    """prometheus-client's own multiprocess ``inc()`` + ``observe()`` on cached children."""
    registry = CollectorRegistry()
    inc = Counter("floor_ops", "x", ["operation"], registry=registry).labels("a").inc
    observe = (
        Histogram("floor_duration_seconds", "x", ["operation"], registry=registry,
                  buckets=DEFAULT_BUCKETS).labels("a").observe
    )  # fmt: skip
    start = perf_counter()
    for _ in range(loops):
        inc()
        observe(0.0021)
    return perf_counter() - start


def floor_inline_timed(loops: int) -> float:
    registry = CollectorRegistry()
    inc = Counter("floor_timed_ops", "x", ["operation"], registry=registry).labels("a").inc
    observe = Histogram("floor_timed_seconds", "x", ["operation"], registry=registry,
                        buckets=DEFAULT_BUCKETS).labels("a").observe  # fmt: skip
    start = perf_counter()
    for _ in range(loops):
        began = perf_counter()
        inc()
        observe(perf_counter() - began)
    return perf_counter() - start


def _collector() -> MetricsCollector:
    return MetricsCollector(namespace="bench", operations=Op.all(), process_metrics=False,
                            publish_interval=3600)  # fmt: skip


def kit_record(loops: int) -> float:
    return kit_cases.kit_record(loops, _collector())


def _record_traced(histogram: str) -> Callable[[int], float]:
    """Every record with a sampled trace (issue 22: exemplars from every worker): its
    exemplar kept for the publisher's beat."""

    def case(loops: int) -> float:
        collector = MetricsCollector(
            namespace="bench", operations=Op.all(), process_metrics=False,
            publish_interval=3600, histogram=histogram,
        )  # fmt: skip
        token = current_trace.set({"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                                   "span_id": "00f067aa0ba902b7"})  # fmt: skip
        try:
            return kit_cases.kit_record(loops, collector)
        finally:
            current_trace.reset(token)

    return case


def kit_time_with(loops: int) -> float:
    return kit_cases.kit_time_with(loops, _collector())


@functools.cache
def _worker_files() -> Path:
    """One worker's files: 28 operations recorded 50 times each, and what it publishes."""
    collector = MetricsCollector(namespace="aiexpense", operations=Op.all(), publish_interval=3600)
    for i, name in enumerate(Op.all()):
        for n in range(50):
            collector.record_operation(name, 0.0001 * (i + n), error=n == 0)
    collector.close()
    return Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def _server_dir(pids: Iterable[int], compacted: Iterable[int] = ()) -> str:
    """A directory of the files of workers ``pids`` (each marked, as the kit marks them),
    those of ``compacted`` compacted already (a supervisor's hook did it)."""
    source, pid = _worker_files(), os.getpid()
    target = tempfile.mkdtemp(prefix="bench-mp-")
    for fake in pids:
        for kind in ("counter", "histogram"):
            shutil.copy(source / f"{kind}_{pid}.db", os.path.join(target, f"{kind}_{fake}.db"))
        shutil.copy(
            source / f"published_{pid}.json", os.path.join(target, f"published_{fake}.json")
        )
    for fake in compacted:
        mark_process_dead(fake, target)
    return target


def _exited(n: int) -> list[int]:
    """The pids of ``n`` processes that have come and gone (restarted workers)."""
    pids = []
    for _ in range(n):
        process = subprocess.Popen(["true"])
        process.wait()
        pids.append(process.pid)
    return pids


@contextlib.contextmanager
def _server(restarts: int = 0, *, hooks: bool = False) -> Iterator[str]:
    """The directory of ``LIVE`` running workers (each marked, as the kit marks them) after
    ``restarts`` restarts, compacted by a supervisor's ``hooks`` or not yet."""
    live = [subprocess.Popen(["sleep", "3600"]) for _ in range(LIVE)]
    dead = _exited(restarts)
    directory = _server_dir([p.pid for p in live] + dead, dead if hooks else ())
    for process in live:
        mark_alive(directory, process.pid)
    try:
        yield directory
    finally:
        for process in live:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _scrape(restarts: int, *, hooks: bool = False, detect: bool = True) -> Callable[[int], float]:
    """A scrape of ``LIVE`` running workers after ``restarts`` restarts, compacted by a
    supervisor's ``hooks`` or found by the scrape's own detection (``detect``), or neither."""

    def case(loops: int) -> float:
        with _server(restarts, hooks=hooks) as directory:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(ServerCollector(directory, list, {}, sweep=detect))
            generate_latest(registry)  # with detection: compacts the restarts, once
            start = perf_counter()
            for _ in range(loops):
                generate_latest(registry)
            return perf_counter() - start

    return case


def _sweep_4_workers(loops: int) -> float:
    """What dead-worker detection adds to each scrape, alone: a ``sweep`` of the directory
    of ``LIVE`` running workers (nobody to compact), as ``ServerCollector`` runs it first."""
    with _server() as directory:
        start = perf_counter()
        for _ in range(loops):
            sweep(directory)
        return perf_counter() - start


CASES: dict[str, tuple[Callable[[int], float], str | None]] = {}
if values.ValueClass._multiprocess:
    CASES = {
        "mp.record_operation": (kit_record, "mp.floor_record"),
        "mp.floor_record": (floor_record, None),
        "mp.record_exemplar": (_record_traced("classic"), "mp.floor_record"),
        "mp.record_exemplar_native": (_record_traced("native"), "mp.floor_record"),
        "mp.time_with": (kit_time_with, "mp.floor_inline_timed"),
        "mp.floor_inline_timed": (floor_inline_timed, None),
        # Detection on (the default) against off, both of 4 live workers (issue 18: <= 1.05).
        "mp.scrape_4_workers": (_scrape(0), "mp.scrape_4_workers_undetected"),
        # the detection's own cost against the scrape it precedes: "adds <= 5%" (issue 18)
        "mp.sweep_4_workers": (_sweep_4_workers, "mp.scrape_4_workers_undetected"),
        "mp.scrape_4_workers_undetected": (_scrape(0, detect=False), None),
        # 60 restarts, compacted by a supervisor's hook (issue 11) or found by the scrapes
        # themselves under plain uvicorn (issue 18), against 4 workers that never restarted.
        "mp.scrape_after_60_restarts": (_scrape(RESTARTS, hooks=True), "mp.scrape_4_workers"),
        "mp.scrape_after_60_restarts_hookless": (_scrape(RESTARTS), "mp.scrape_4_workers"),
        "ref.mp_scrape_64_uncompacted": (_scrape(RESTARTS, detect=False), "mp.scrape_4_workers"),
    }
