"""HealthChecker: a background sampler and the healthy / degraded / unhealthy verdict.

The sampler runs every ``interval_seconds`` (database ping through the pool, pool
figures, memory, garbage collector, threads and tasks) and keeps the latest report.
Endpoints read that report: a probe storm never reaches the database. A report older
than ``stale_periods`` intervals means the sampler itself is stuck: unhealthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from time import perf_counter
from typing import Any

import anyio.to_thread
import psutil
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, StateSetMetricFamily
from prometheus_client.registry import Collector

from .collector import MetricsCollector
from .names import metric_name
from .stats import WindowStats
from .thresholds import MB, Thresholds

log = logging.getLogger(__name__)

POOL_STATS = (
    "pool_min", "pool_max", "pool_size", "pool_available", "requests_waiting",
    "requests_num", "requests_queued", "requests_wait_ms", "requests_errors", "usage_ms",
    "returns_bad", "connections_num", "connections_ms", "connections_errors", "connections_lost",
)  # fmt: skip


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @staticmethod
    def worst(statuses) -> HealthStatus:
        order = list(HealthStatus)
        return max(statuses, key=order.index, default=HealthStatus.HEALTHY)


@dataclass(frozen=True, slots=True)
class Check:
    status: HealthStatus
    reason: str
    observed: float | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class DatabaseSample:
    configured: bool
    ping: bool | None = None
    ping_seconds: float | None = None
    error: str | None = None
    failures: int = 0  # consecutive failed pings
    stats: Mapping[str, int] = field(default_factory=dict)
    queued_rising: bool = False


@dataclass(frozen=True, slots=True)
class MemorySample:
    rss_bytes: int
    vms_bytes: int
    limit_bytes: int | None
    num_gc: int
    last_gc: float | None
    threads: int
    tasks: int


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: HealthStatus
    checks: Mapping[str, Check]
    database: DatabaseSample
    memory: MemorySample
    errors: WindowStats
    taken_at: float  # Unix time
    taken_monotonic: float


class HealthChecker:
    """Samples the database pool, memory and error rate; answers health and probes."""

    def __init__(
        self,
        pool: Any | None,
        collector: MetricsCollector,
        thresholds: Thresholds | None = None,
        *,
        judged: Callable[[str], bool] | None = None,
    ) -> None:
        """``judged`` picks the operations whose errors decide health (default: all)."""
        self.pool = pool
        self.collector = collector
        self.thresholds = thresholds or Thresholds()
        self._judged = judged
        self._process = psutil.Process()
        self._memory_limit = cgroup_memory_limit()
        self._last_gc: float | None = None
        self._failures = 0
        self._queued: deque[tuple[float, int]] = deque()
        self._report: HealthReport | None = None
        self._heartbeat: float | None = None
        self._tasks: list[asyncio.Task] = []
        self._shutting_down = False
        self._counters = _PoolCounters(collector)
        collector.registry.register(_HealthMetrics(self))

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the first sample, then keep sampling in the background."""
        self._heartbeat = time.monotonic()
        await self.sample()
        gc.callbacks.append(self._on_gc)
        self._tasks = [
            asyncio.create_task(self._sample_forever(), name="health-sampler"),
            asyncio.create_task(self._beat_forever(), name="health-heartbeat"),
        ]

    def begin_shutdown(self) -> None:
        """From now on readiness fails, so load balancers stop sending traffic."""
        self._shutting_down = True

    async def stop(self) -> None:
        self.begin_shutdown()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # -- reading (no I/O) ------------------------------------------------------------------

    def report(self) -> HealthReport | None:
        """The latest report, marked unhealthy if the sampler has stopped producing them."""
        report = self._report
        if report is None:
            return None
        age = time.monotonic() - report.taken_monotonic
        limit = self.thresholds.stale_periods * self.thresholds.interval_seconds
        if age <= limit:
            return report
        stalled = Check(
            HealthStatus.UNHEALTHY, f"last health sample is {age:.1f}s old > {limit:g}s", age, "s"
        )
        checks = {**report.checks, "sampler": stalled}
        return replace(report, status=HealthStatus.UNHEALTHY, checks=checks)

    def readiness(self) -> tuple[bool, str]:
        """Can this instance take traffic? (ready, reason)"""
        if self._shutting_down:
            return False, "shutting down"
        if self.pool is not None and getattr(self.pool, "closed", False):
            return False, "database pool is not open"
        report = self.report()
        if report is None:
            return False, "no health sample yet"
        if report.status is HealthStatus.UNHEALTHY:
            failing = [c.reason for c in report.checks.values() if c.status is report.status]
            return False, "unhealthy: " + "; ".join(failing)
        return True, report.status.value

    def liveness(self) -> tuple[bool, str]:
        """Is the process able to serve at all? Never looks at the database."""
        if self._heartbeat is None or not self._tasks:
            return True, "alive"
        age = time.monotonic() - self._heartbeat
        if age > self.thresholds.liveness_stale_seconds:
            return False, f"event loop heartbeat is {age:.1f}s old"
        return True, "alive"

    # -- sampling --------------------------------------------------------------------------

    async def sample(self) -> HealthReport:
        """One sampling round; the result becomes the latest report."""
        database = await self._sample_database()
        memory = self._sample_memory()
        errors = self.collector.window_total(self.thresholds.error_window_seconds, self._judged)
        checks = {
            "database": check_database(database, self.thresholds),
            "memory": check_memory(memory, self.thresholds),
            "error_rate": check_error_rate(errors, self.thresholds),
            "sampler": Check(HealthStatus.HEALTHY, "sampling on time"),
        }
        self._report = HealthReport(
            status=HealthStatus.worst(c.status for c in checks.values()),
            checks=checks,
            database=database,
            memory=memory,
            errors=errors,
            taken_at=time.time(),
            taken_monotonic=time.monotonic(),
        )
        return self._report

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(self.thresholds.interval_seconds)
            try:
                await self.sample()
            except Exception:  # a broken sample must not kill the sampler; staleness shows it
                log.exception("health sample failed")

    async def _beat_forever(self) -> None:
        while True:
            self._heartbeat = time.monotonic()
            await asyncio.sleep(1.0)

    async def _sample_database(self) -> DatabaseSample:
        if self.pool is None:
            return DatabaseSample(configured=False)
        ok, seconds, error = await self._ping()
        self._failures = 0 if ok else self._failures + 1
        stats = {key: 0 for key in POOL_STATS} | self.pool.get_stats()
        self._counters.update(stats)
        return DatabaseSample(
            configured=True,
            ping=ok,
            ping_seconds=seconds,
            error=error,
            failures=self._failures,
            stats=stats,
            queued_rising=self._queued_rising(stats["requests_queued"]),
        )

    async def _ping(self) -> tuple[bool, float | None, str | None]:
        th = self.thresholds
        start = perf_counter()
        try:
            if hasattr(self.pool, "__aenter__"):
                await asyncio.wait_for(
                    self._ping_async(), th.checkout_timeout_seconds + th.ping_timeout_seconds
                )
            else:
                await asyncio.wait_for(
                    anyio.to_thread.run_sync(self._ping_sync, abandon_on_cancel=True),
                    th.checkout_timeout_seconds + th.ping_timeout_seconds,
                )
        except TimeoutError:
            return False, None, "ping timed out"
        except Exception as exc:
            return False, None, f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        return True, perf_counter() - start, None

    async def _ping_async(self) -> None:
        async with self.pool.connection(timeout=self.thresholds.checkout_timeout_seconds) as conn:
            await asyncio.wait_for(conn.execute("SELECT 1"), self.thresholds.ping_timeout_seconds)

    def _ping_sync(self) -> None:
        with self.pool.connection(timeout=self.thresholds.checkout_timeout_seconds) as conn:
            conn.execute("SELECT 1")

    def _queued_rising(self, queued: int) -> bool:
        now = time.monotonic()
        self._queued.append((now, queued))
        while self._queued and self._queued[0][0] < now - self.thresholds.error_window_seconds:
            self._queued.popleft()
        return queued > self._queued[0][1]

    def _sample_memory(self) -> MemorySample:
        info = self._process.memory_info()
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # no running loop (a sync caller)
            tasks = 0
        return MemorySample(
            rss_bytes=info.rss,
            vms_bytes=info.vms,
            limit_bytes=self._memory_limit,
            num_gc=sum(generation["collections"] for generation in gc.get_stats()),
            last_gc=self._last_gc,
            threads=threading.active_count(),
            tasks=tasks,
        )

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "stop":
            self._last_gc = time.time()


# -- the rules (pure functions of a sample and the thresholds) ------------------------------


def check_database(db: DatabaseSample, th: Thresholds) -> Check:
    if not db.configured:
        return Check(HealthStatus.HEALTHY, "no database configured")
    if db.failures >= th.ping_failures:
        return Check(
            HealthStatus.UNHEALTHY, f"database ping failed {db.failures} times in a row: {db.error}"
        )
    waiting = db.stats.get("requests_waiting", 0)
    if waiting:
        return Check(
            HealthStatus.DEGRADED,
            f"{waiting} requests waiting for a pool connection",
            waiting,
            "requests",
        )
    if db.queued_rising:
        return Check(
            HealthStatus.DEGRADED,
            f"requests queued for a pool connection within the last {th.error_window_seconds:g}s",
            None,
            "requests",
        )
    if not db.ping:
        return Check(HealthStatus.DEGRADED, f"database ping failed once: {db.error}")
    return Check(HealthStatus.HEALTHY, f"ping {db.ping_seconds * 1000:.1f}ms", db.ping_seconds, "s")


def memory_limits(mem: MemorySample, th: Thresholds) -> tuple[float, float]:
    """(degraded, unhealthy) resident-memory thresholds in bytes, tightened by a cgroup limit."""
    unhealthy = th.memory_unhealthy_mb * MB
    if mem.limit_bytes:
        unhealthy = min(unhealthy, th.memory_limit_fraction * mem.limit_bytes)
    return min(th.memory_degraded_mb * MB, unhealthy), unhealthy


def check_memory(mem: MemorySample, th: Thresholds) -> Check:
    degraded, unhealthy = memory_limits(mem, th)
    rss = mem.rss_bytes
    text = f"resident memory {rss / MB:.1f}MB"
    if rss >= unhealthy:
        return Check(HealthStatus.UNHEALTHY, f"{text} >= {unhealthy / MB:g}MB", rss, "bytes")
    if rss >= degraded:
        return Check(HealthStatus.DEGRADED, f"{text} >= {degraded / MB:g}MB", rss, "bytes")
    return Check(HealthStatus.HEALTHY, f"{text} < {degraded / MB:g}MB", rss, "bytes")


def check_error_rate(window: WindowStats, th: Thresholds) -> Check:
    span = f"{window.seconds / 60:g}m"
    if window.count < th.error_min_operations:
        return Check(
            HealthStatus.HEALTHY,
            f"{window.count} operations over {span}, fewer than"
            f" {th.error_min_operations}: rate not judged",
            window.error_rate,
            "%",
        )
    rate = window.error_rate
    text = f"error rate {rate:.2g}% over {span}"
    if rate > th.error_unhealthy_percent:
        return Check(HealthStatus.UNHEALTHY, f"{text} > {th.error_unhealthy_percent:g}%", rate, "%")
    if rate >= th.error_degraded_percent:
        return Check(HealthStatus.DEGRADED, f"{text} >= {th.error_degraded_percent:g}%", rate, "%")
    return Check(HealthStatus.HEALTHY, f"{text} < {th.error_degraded_percent:g}%", rate, "%")


def cgroup_memory_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The container's memory limit in bytes (cgroup v2, then v1), or None when unlimited."""
    for name in ("memory.max", "memory/memory.limit_in_bytes"):
        try:
            raw = (root / name).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:  # v1 reports "unlimited" as a huge number
            return int(raw)
    return None


# -- Prometheus series ------------------------------------------------------------------------


# get_stats() key -> (counter name, help, scale to base units)
POOL_COUNTERS = (
    ("requests_queued", "db_pool_wait", "Requests that had to wait for a connection.", 1),
    ("requests_wait_ms", "db_pool_wait_seconds", "Time spent waiting for a connection.", 1e-3),
    ("requests_errors", "db_pool_errors", "Connection requests that failed.", 1),
    ("connections_lost", "db_pool_connections_lost", "Connections found broken.", 1),
)


class _PoolCounters:
    """Counters fed from ``get_stats()`` deltas (never ``pop_stats()``, which resets them
    for every other reader). A counter that went down was reset elsewhere: count it anew."""

    def __init__(self, collector: MetricsCollector) -> None:
        self._counters = {
            key: (
                Counter(name, doc, namespace=collector.namespace, registry=collector.registry),
                scale,
            )
            for key, name, doc, scale in POOL_COUNTERS
        }
        self._last: dict[str, int] = {}

    def update(self, stats: Mapping[str, int]) -> None:
        for key, (counter, scale) in self._counters.items():
            value, before = stats.get(key, 0), self._last.get(key, 0)
            delta = value - before if value >= before else value
            if delta:
                counter.inc(delta * scale)
            self._last[key] = value


class _HealthMetrics(Collector):
    """Health gauges read from the latest report at scrape time (so a stall shows too)."""

    def __init__(self, checker: HealthChecker) -> None:
        self._checker = checker

    def describe(self):
        return self._families(None)

    def collect(self):
        return self._families(self._checker.report())

    def _families(self, report: HealthReport | None):
        ns = self._checker.collector.namespace
        status = StateSetMetricFamily(metric_name(ns, "health_status"), "Overall health.")
        up = GaugeMetricFamily(
            metric_name(ns, "health_check_up"),
            "1 if a health check passes (healthy or degraded), else 0.",
            labels=["check"],
        )
        db_up = GaugeMetricFamily(
            metric_name(ns, "db_up"), "1 if the database answered its last pings."
        )
        ping = GaugeMetricFamily(
            metric_name(ns, "db_ping_seconds"), "Last database ping round trip."
        )
        conns = GaugeMetricFamily(
            metric_name(ns, "db_pool_connections"), "Pool connections by state.", labels=["state"]
        )
        pool_max = GaugeMetricFamily(metric_name(ns, "db_pool_max_connections"), "Pool size limit.")
        waiting = GaugeMetricFamily(
            metric_name(ns, "db_pool_requests_waiting"),
            "Requests waiting for a pool connection now.",
        )
        families = [status, up, db_up, ping, conns, pool_max, waiting]
        if report is None:
            return families
        status.add_metric([], {s.value: s is report.status for s in HealthStatus})
        for name, check in report.checks.items():
            up.add_metric([name], float(check.status is not HealthStatus.UNHEALTHY))
        db = report.database
        if db.configured:
            db_up.add_metric([], float(db.failures < self._checker.thresholds.ping_failures))
            if db.ping_seconds is not None:
                ping.add_metric([], db.ping_seconds)
            size, idle = db.stats["pool_size"], db.stats["pool_available"]
            for state, value in (("open", size), ("in_use", size - idle), ("idle", idle)):
                conns.add_metric([state], value)
            pool_max.add_metric([], db.stats["pool_max"])
            waiting.add_metric([], db.stats["requests_waiting"])
        return families
