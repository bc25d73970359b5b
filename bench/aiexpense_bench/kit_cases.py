"""Micro-benchmarks of the monitoring kit, each beside the floor it is judged against.

Every case is a pyperf time function ``f(loops) -> seconds``. A floor is the cheapest way
to get the same numbers with plain prometheus-client, measured in the same run.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from time import perf_counter, time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.responses import HTMLResponse, JSONResponse

from aiexpense.domain.operations import Op
from exporter import (
    DEFAULT_BUCKETS,
    HealthChecker,
    MetricsCollector,
    MonitoringHandler,
    Thresholds,
)
from exporter.status import StatusPage
from exporter.status.snapshot import operations_view

OPERATIONS = Op.all()


def _plain_registry() -> tuple[CollectorRegistry, Counter, Counter, Histogram]:
    registry = CollectorRegistry()
    total = Counter("aiexpense_operations", "x", ["operation"], registry=registry)
    errors = Counter("aiexpense_operation_errors", "x", ["operation"], registry=registry)
    duration = Histogram(
        "aiexpense_operation_duration_seconds",
        "x",
        ["operation"],
        registry=registry,
        buckets=DEFAULT_BUCKETS,
    )
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry, total, errors, duration


def floor_record(loops: int) -> float:
    """Cached prometheus-client children: ``counter.inc()`` + ``histogram.observe()``."""
    _, total, _, duration = _plain_registry()
    inc, observe = total.labels(Op.CREATE_EXPENSE).inc, duration.labels(Op.CREATE_EXPENSE).observe
    start = perf_counter()
    for _ in range(loops):
        inc()
        observe(0.0021)
    return perf_counter() - start


def labels_every_call(loops: int) -> float:
    """The common glue code: ``labels()`` on every record (a reference, not a floor)."""
    _, total, _, duration = _plain_registry()
    start = perf_counter()
    for _ in range(loops):
        total.labels(Op.CREATE_EXPENSE).inc()
        duration.labels(Op.CREATE_EXPENSE).observe(0.0021)
    return perf_counter() - start


def kit_record(loops: int, collector: MetricsCollector | None = None) -> float:
    record = (collector or MetricsCollector()).record_operation
    start = perf_counter()
    for _ in range(loops):
        record(Op.CREATE_EXPENSE, 0.0021)
    return perf_counter() - start


def kit_record_4_threads(loops: int) -> float:
    """Per-record time with 4 threads recording at once (records/s = 1 / this)."""
    record = MetricsCollector().record_operation
    per_thread = max(1, loops // 4)
    barrier = threading.Barrier(5)

    def work() -> None:
        barrier.wait()
        for _ in range(per_thread):
            record(Op.DB_QUERY, 0.0004)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    barrier.wait()
    start = perf_counter()
    for t in threads:
        t.join()
    return (perf_counter() - start) * loops / (per_thread * 4)


def _fill(record) -> None:
    for i, name in enumerate(OPERATIONS):
        for n in range(50):
            record(name, 0.0001 * (i + n))


def _filled_plain_registry() -> CollectorRegistry:
    registry, total, errors, duration = _plain_registry()
    for i, name in enumerate(OPERATIONS):
        errors.labels(name)
        for n in range(50):
            total.labels(name).inc()
            duration.labels(name).observe(0.0001 * (i + n))
    return registry


def _filled_kit_registry() -> CollectorRegistry:
    collector = MetricsCollector()
    _fill(collector.record_operation)
    HealthChecker(None, collector, Thresholds())  # its series are part of a real scrape
    return collector.registry


def floor_render(loops: int) -> float:
    """``generate_latest()`` of a plain registry holding the same operations."""
    registry = _filled_plain_registry()
    start = perf_counter()
    for _ in range(loops):
        generate_latest(registry)
    return perf_counter() - start


def kit_render(loops: int) -> float:
    registry = _filled_kit_registry()
    start = perf_counter()
    for _ in range(loops):
        generate_latest(registry)
    return perf_counter() - start


def kit_health_sample(loops: int) -> float:
    """One sampler round without a database: memory, gc, threads, error window."""
    collector = MetricsCollector()
    _fill(collector.record_operation)
    checker = HealthChecker(None, collector, Thresholds())

    async def run() -> float:
        start = perf_counter()
        for _ in range(loops):
            await checker.sample()
        return perf_counter() - start

    return asyncio.run(run())


def floor_inline_timed(loops: int) -> float:
    """The inline-timed floor: two ``perf_counter()`` calls, cached ``inc()`` + ``observe()``."""
    _, total, _, duration = _plain_registry()
    inc, observe = total.labels(Op.CREATE_EXPENSE).inc, duration.labels(Op.CREATE_EXPENSE).observe
    start = perf_counter()
    for _ in range(loops):
        began = perf_counter()
        inc()
        observe(perf_counter() - began)
    return perf_counter() - start


def kit_time_with(loops: int, collector: MetricsCollector | None = None) -> float:
    time = (collector or MetricsCollector()).time
    start = perf_counter()
    for _ in range(loops):
        with time(Op.CREATE_EXPENSE):
            pass
    return perf_counter() - start


def kit_time_decorator(loops: int) -> float:
    @MetricsCollector().time(Op.CREATE_EXPENSE)
    def work() -> None:
        return None

    start = perf_counter()
    for _ in range(loops):
        work()
    return perf_counter() - start


def kit_timer_end(loops: int) -> float:
    timer = MetricsCollector().timer
    start = perf_counter()
    for _ in range(loops):
        timer(Op.CREATE_EXPENSE).end(None)
    return perf_counter() - start


def _collector_with(operations: int) -> MetricsCollector:
    """A collector with ``operations`` operations recorded 50 times each, and its health."""
    return _checked(operations).collector


def _checked(operations: int, errors: bool = False, minutes: int = 0) -> HealthChecker:
    """The health checker of ``_collector_with``'s collector, with one sample taken
    (``errors``: every third operation's first record failed, so the page flags rows;
    ``minutes``: the 50 records spread over that many minutes before now, so the history
    is full, on a clock that runs behind and catches up)."""
    behind = [-60.0 * minutes]
    collector = MetricsCollector(
        namespace="aiexpense", max_operations=operations, clock=lambda: time() + behind[0]
    )
    names = [*OPERATIONS, *(f"op_{i}" for i in range(operations - len(OPERATIONS)))]
    for n in range(50):
        behind[0] = -60.0 * (minutes - minutes * n // 50)
        for i, name in enumerate(names[:operations]):
            failed = errors and n == 0 and i % 3 == 0
            collector.record_operation(name, 0.0001 * (i + n), error=failed)
    behind[0] = 0.0
    checker = HealthChecker(None, collector, Thresholds())
    asyncio.run(checker.sample())
    return checker


def _read_case(operations: int, read: str) -> Callable[[int], float]:
    def case(loops: int) -> float:
        collector = _collector_with(operations)
        handler = MonitoringHandler(None, collector)
        run = {
            "system": handler.system_summary,
            "operations": functools.partial(operations_view, collector),
            "render": functools.partial(generate_latest, collector.registry),
        }[read]
        start = perf_counter()
        for _ in range(loops):
            run()
        return perf_counter() - start

    return case


def _page_case(operations: int, page: bool) -> Callable[[int], float]:
    """The status page (one snapshot, rendered) beside the work of ``/monitoring/metrics``
    (its view, serialised as the endpoint does), both short of the HTTP round trip, with
    30 minutes of history behind them (30 points to draw)."""

    def case(loops: int) -> float:
        checker = _checked(operations, errors=True, minutes=30)
        handler = MonitoringHandler(checker, checker.collector)
        renderer = StatusPage("aiexpense", thresholds=checker.thresholds)

        def html() -> bytes:
            return HTMLResponse(renderer.render(handler.snapshot())).body

        def json() -> bytes:
            return JSONResponse(operations_view(checker.collector)).body

        run = html if page else json
        start = perf_counter()
        for _ in range(loops):
            run()
        return perf_counter() - start

    return case


# name -> (time function, floor name or None)
CASES = {
    "kit.time_with": (kit_time_with, "floor.inline_timed"),
    "kit.time_decorator": (kit_time_decorator, "floor.inline_timed"),
    "kit.timer_end": (kit_timer_end, "floor.inline_timed"),
    "floor.inline_timed": (floor_inline_timed, None),
    **{
        f"kit.{read}_view_{n}": (_read_case(n, read), f"kit.render_{n}")
        for n in (28, 256)
        for read in ("system", "operations")
    },
    **{f"kit.render_{n}": (_read_case(n, "render"), None) for n in (28, 256)},
    **{f"kit.status_page_{n}": (_page_case(n, True), f"kit.metrics_json_{n}") for n in (28, 256)},
    **{f"kit.metrics_json_{n}": (_page_case(n, False), None) for n in (28, 256)},
    "kit.record_operation": (kit_record, "floor.prometheus_client_record"),
    "floor.prometheus_client_record": (floor_record, None),
    "ref.labels_every_call": (labels_every_call, None),
    "kit.record_4_threads": (kit_record_4_threads, None),
    "kit.metrics_render": (kit_render, "floor.generate_latest_plain"),
    "floor.generate_latest_plain": (floor_render, None),
    "kit.health_sample": (kit_health_sample, None),
}


# One operation of a case, for the memory runs (``aiexpense_bench.memory``): name -> factory.
def _kit_record_op() -> Callable[[], None]:
    record = MetricsCollector().record_operation
    return functools.partial(record, Op.CREATE_EXPENSE, 0.0021)


def _floor_record_op() -> Callable[[], None]:
    _, total, _, duration = _plain_registry()
    inc, observe = total.labels(Op.CREATE_EXPENSE).inc, duration.labels(Op.CREATE_EXPENSE).observe

    def op() -> None:
        inc()
        observe(0.0021)

    return op


MEMORY_OPS: dict[str, Callable[[], Callable[[], object]]] = {
    "kit.record_operation": _kit_record_op,
    "floor.prometheus_client_record": _floor_record_op,
    "kit.metrics_render": lambda: functools.partial(generate_latest, _filled_kit_registry()),
    "floor.generate_latest_plain": lambda: functools.partial(
        generate_latest, _filled_plain_registry()
    ),
}
