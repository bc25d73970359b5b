"""The built-in checks: database, memory, error_rate and sampler, each a ``HealthCheck``.

``HealthChecker`` registers them like any other check; their ``details`` carry the spec's
``database`` and ``memory`` fields, their measurements the IETF view's values.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, Final

import anyio.to_thread
import psutil
from prometheus_client import Counter

from .._formatting import go_duration, human_bytes, ms, rfc3339
from ..recorder import MetricsSource
from .checks import CheckResult, HealthStatus, Measurement, describe, within
from .thresholds import MB, Thresholds

POOL_STATS: Final = (
    "pool_min", "pool_max", "pool_size", "pool_available", "requests_waiting",
    "requests_num", "requests_queued", "requests_wait_ms", "requests_errors", "usage_ms",
    "returns_bad", "connections_num", "connections_ms", "connections_errors", "connections_lost",
)  # fmt: skip

# -- database -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ping:
    """One ping's outcome: ``seconds`` when it answered, else ``error`` and its kind
    (``checkout``: no pool connection in time; ``timeout``: no answer; ``error``)."""

    seconds: float | None
    error: str | None
    kind: str = ""


class DatabaseCheck:
    """``SELECT 1`` through a psycopg pool (async or sync), and the pool's wait figures.

    A failed ping is retried at once, up to ``ping_failures`` pings in the round, so a
    lost database is unhealthy within one sampler round while a single broken pooled
    connection (the first use after a database restart) is only degraded. Before the
    retry, ``pool.check()`` drops the pool's broken idle connections; after a ping that
    timed out it is skipped (it would wait on every idle connection of a hung server).

    A pool merely busy is not unhealthy: when no connection frees up within the checkout
    timeout and every connection is open and in use, the verdict is degraded (taking a
    loaded replica out of rotation would push its load onto the others), unless the last
    round's pings failed: then the database stays down until a ping answers. Waits
    make it degraded only while requests wait now, or when requests queued during the
    last round with the pool at its maximum: a pool growing to meet a burst is healthy.
    """

    component_type = "datastore"

    def __init__(
        self, pool: Any, thresholds: Thresholds, counters: PoolCounters | None = None
    ) -> None:
        self.pool = pool
        self.thresholds = thresholds
        self._counters = counters
        self._last_queued: int | None = None
        self._answered = True  # did the database answer the last round's pings?

    @property
    def timeout(self) -> float:
        """Long enough for every ping of a round and one ``pool.check()``."""
        th = self.thresholds
        per_ping = th.checkout_timeout_seconds + th.ping_timeout_seconds
        return th.ping_failures * per_ping + th.ping_timeout_seconds + 0.5

    async def __call__(self) -> CheckResult:
        errors_before = self._stats()["connections_errors"]
        pings: list[_Ping] = []
        for attempt in range(self.thresholds.ping_failures):
            ping = await self._ping()
            pings.append(ping)
            if ping.error is None or self._busy(ping, errors_before):
                break
            if attempt + 1 < self.thresholds.ping_failures and ping.kind == "error":
                await self._drop_broken()
        stats = self._stats()
        if self._counters is not None:
            self._counters.update(stats)
        before, self._last_queued = self._last_queued, stats["requests_queued"]
        queued = 0 if before is None else max(stats["requests_queued"] - before, 0)
        result = self._judge(pings, stats, queued, errors_before)
        if pings[-1].error is None:
            self._answered = True
        elif result.status is HealthStatus.UNHEALTHY:
            self._answered = False
        return result

    def _judge(
        self, pings: list[_Ping], stats: Mapping[str, int], queued: int, errors_before: int
    ) -> CheckResult:
        last = pings[-1]
        details = database_details(last, stats)
        measured = (
            Measurement("responseTime", ms(last.seconds), "ms"),
            Measurement("connections", stats["pool_size"] - stats["pool_available"], None),
        )

        def result(status: Callable[..., CheckResult], reason: str) -> CheckResult:
            return status(reason, measurements=measured, details=details)

        if last.error is not None and self._busy(last, errors_before):
            # Busy is degraded while the database was last seen answering; after failed
            # pings a full pool says nothing new (the cancelled pings may hold it).
            busy = (
                f"no pool connection free within {self.thresholds.checkout_timeout_seconds:g}s:"
                f" all {stats['pool_size']} in use, {stats['requests_waiting']} requests waiting"
            )
            if self._answered:
                return result(CheckResult.degraded, busy)
            return result(CheckResult.unhealthy, f"{busy}; the last pings failed")
        if last.error is not None:
            return result(
                CheckResult.unhealthy, f"ping failed {len(pings)} times in a row: {last.error}"
            )
        if len(pings) > 1:
            return result(
                CheckResult.degraded, f"ping failed, then answered at once: {pings[0].error}"
            )
        waiting = stats["requests_waiting"]
        if waiting:
            return result(CheckResult.degraded, f"{waiting} requests waiting for a pool connection")
        if queued and stats["pool_size"] >= stats["pool_max"]:
            return result(
                CheckResult.degraded,
                f"{queued} requests waited for a pool connection since the last round,"
                f" with all {stats['pool_max']} connections open",
            )
        assert last.seconds is not None
        return result(CheckResult.healthy, f"ping {last.seconds * 1000:.1f}ms")

    def _busy(self, ping: _Ping, errors_before: int) -> bool:
        """Did the checkout time out only because every connection is in use?"""
        if ping.kind != "checkout":
            return False
        stats = self._stats()
        return (
            stats["pool_size"] >= stats["pool_max"]
            and stats["pool_available"] == 0
            and stats["connections_errors"] == errors_before
        )

    def _stats(self) -> dict[str, int]:
        return {key: 0 for key in POOL_STATS} | dict(self.pool.get_stats())

    async def _ping(self) -> _Ping:
        th = self.thresholds
        start = perf_counter()
        if hasattr(self.pool, "__aenter__"):
            ping: Awaitable[None] = self._ping_async()
        else:
            ping = anyio.to_thread.run_sync(self._ping_sync, abandon_on_cancel=True)
        try:
            await within(ping, th.checkout_timeout_seconds + th.ping_timeout_seconds)
        except TimeoutError:
            return _Ping(None, "ping timed out", "timeout")
        except Exception as exc:
            kind = "checkout" if _is_pool_timeout(exc) else "error"
            return _Ping(None, describe(exc), kind)
        return _Ping(perf_counter() - start, None)

    async def _ping_async(self) -> None:
        async with self.pool.connection(timeout=self.thresholds.checkout_timeout_seconds) as conn:
            await conn.execute("SELECT 1")

    def _ping_sync(self) -> None:
        with self.pool.connection(timeout=self.thresholds.checkout_timeout_seconds) as conn:
            conn.execute("SELECT 1")

    async def _drop_broken(self) -> None:
        """psycopg's ``pool.check()``: test the idle connections, replace broken ones."""
        check = getattr(self.pool, "check", None)
        if check is None:
            return
        if asyncio.iscoroutinefunction(check):
            checking: Awaitable[None] = check()
        else:
            checking = anyio.to_thread.run_sync(check, abandon_on_cancel=True)
        try:
            await within(checking, self.thresholds.ping_timeout_seconds)
        except Exception:  # the retry's ping tells what matters
            return


def _is_pool_timeout(error: BaseException) -> bool:
    """psycopg_pool's PoolTimeout, by name: the kit does not depend on psycopg."""
    return any(kind.__name__ == "PoolTimeout" for kind in type(error).__mro__)


def database_details(ping: _Ping, stats: Mapping[str, int]) -> dict[str, Any]:
    """The spec's ``database`` fields (psycopg-pool's figures under Go's names)."""
    open_, idle = stats["pool_size"], stats["pool_available"]
    return {
        "ping": ping.error is None,
        "ping_seconds": None if ping.seconds is None else round(ping.seconds, 6),
        "error": ping.error,
        "open_connections": open_,
        "in_use_connections": open_ - idle,
        "idle_connections": idle,
        "max_connections": stats["pool_max"],
        "requests_waiting": stats["requests_waiting"],
        "wait_count": stats["requests_queued"],
        "wait_duration": go_duration(stats["requests_wait_ms"] / 1000.0),
        "wait_duration_seconds": stats["requests_wait_ms"] / 1000.0,
        # psycopg-pool does not count closes by idle time or lifetime: no honest value.
        "max_idle_closed": None,
        "max_lifetime_closed": None,
    }


# get_stats() key -> (counter name, help, scale to base units)
POOL_COUNTERS: Final = (
    ("requests_queued", "db_pool_wait", "Requests that had to wait for a connection.", 1),
    ("requests_wait_ms", "db_pool_wait_seconds", "Time spent waiting for a connection.", 1e-3),
    ("requests_errors", "db_pool_errors", "Connection requests that failed.", 1),
    ("connections_lost", "db_pool_connections_lost", "Connections found broken.", 1),
)


class PoolCounters:
    """Counters fed from ``get_stats()`` deltas (never ``pop_stats()``, which resets them
    for every other reader). A counter that went down was reset elsewhere: count it anew."""

    def __init__(self, collector: MetricsSource) -> None:
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


# -- memory ---------------------------------------------------------------------------------


class MemoryCheck:
    """Resident memory against the thresholds (tightened by a container's cgroup limit),
    and the runtime figures of the spec's ``memory`` object."""

    component_type = "system"

    def __init__(self, thresholds: Thresholds, limit_bytes: int | None = None) -> None:
        self.thresholds = thresholds
        self.limit_bytes = limit_bytes
        self._process = psutil.Process()
        _GcClock.install()

    async def __call__(self) -> CheckResult:
        tasks = len(asyncio.all_tasks())  # on the loop: all_tasks() is not thread-safe
        info, num_gc, threads = await anyio.to_thread.run_sync(self._read)
        degraded, unhealthy = memory_limits(self.thresholds, self.limit_bytes)
        rss = info.rss
        details = {
            "alloc": human_bytes(rss),
            "alloc_bytes": rss,
            "total_alloc": None,  # Python keeps no lifetime allocation total
            "sys": human_bytes(info.vms),
            "sys_bytes": info.vms,
            "num_gc": num_gc,
            "goroutines": threads + tasks,
            "threads": threads,
            "asyncio_tasks": tasks,
            "last_gc_time": rfc3339(_GcClock.last),
            "limit_bytes": self.limit_bytes,
            "degraded_bytes": int(degraded),
            "unhealthy_bytes": int(unhealthy),
        }
        measured = (Measurement("utilization", rss, "bytes"),)
        text = f"resident memory {rss / MB:.1f}MB"
        if rss >= unhealthy:
            status, reason = CheckResult.unhealthy, f"{text} >= {unhealthy / MB:g}MB"
        elif rss >= degraded:
            status, reason = CheckResult.degraded, f"{text} >= {degraded / MB:g}MB"
        else:
            status, reason = CheckResult.healthy, f"{text} < {degraded / MB:g}MB"
        return status(reason, measurements=measured, details=details)

    def _read(self) -> tuple[Any, int, int]:
        num_gc = sum(generation["collections"] for generation in gc.get_stats())
        return self._process.memory_info(), num_gc, threading.active_count()


def memory_limits(th: Thresholds, limit_bytes: int | None) -> tuple[float, float]:
    """(degraded, unhealthy) resident-memory thresholds in bytes, tightened by a cgroup limit."""
    unhealthy = th.memory_unhealthy_mb * MB
    if limit_bytes:
        unhealthy = min(unhealthy, th.memory_limit_fraction * limit_bytes)
    return min(th.memory_degraded_mb * MB, unhealthy), unhealthy


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


class _GcClock:
    """When the last garbage collection ended: one ``gc.callbacks`` hook per process."""

    last: float | None = None
    _installed = False

    @classmethod
    def install(cls) -> None:
        if not cls._installed:
            cls._installed = True
            gc.callbacks.append(cls._on_gc)

    @classmethod
    def _on_gc(cls, phase: str, info: Mapping[str, int]) -> None:
        if phase == "stop":
            cls.last = time.time()


# -- error rate -----------------------------------------------------------------------------


class ErrorRateCheck:
    """The error rate of the judged operations over the window, judged only above a
    minimum volume (a lifetime rate would hide an outage after a long uptime). With the
    HTTP middleware installed its requests are an operation too (``http_request``, an
    error when the status is 5xx), so the server's failures count here. Sync: the
    sampler runs it in a worker thread, since reading the metrics back costs milliseconds."""

    component_type = "component"

    def __init__(
        self,
        collector: MetricsSource,
        thresholds: Thresholds,
        judged: Callable[[str], bool] | None = None,
    ) -> None:
        self.collector = collector
        self.thresholds = thresholds
        self.judged = judged

    def __call__(self) -> CheckResult:
        th = self.thresholds
        window = self.collector.window_total(th.error_window_seconds, self.judged)
        rate = window.error_rate
        kwargs: dict[str, Any] = {
            "measurements": (Measurement(None, round(rate, 3), "percent"),),
            "details": {
                "window_seconds": window.seconds,
                "operations": window.count,
                "errors": window.errors,
                "error_rate": round(rate, 3),
            },
        }
        span = f"{window.seconds / 60:g}m"
        if window.count < th.error_min_operations:
            return CheckResult.healthy(
                f"{window.count} operations over {span}, fewer than"
                f" {th.error_min_operations}: rate not judged",
                **kwargs,
            )
        text = f"error rate {rate:.2g}% over {span}"
        if rate > th.error_unhealthy_percent:
            return CheckResult.unhealthy(f"{text} > {th.error_unhealthy_percent:g}%", **kwargs)
        if rate >= th.error_degraded_percent:
            return CheckResult.degraded(f"{text} >= {th.error_degraded_percent:g}%", **kwargs)
        return CheckResult.healthy(f"{text} < {th.error_degraded_percent:g}%", **kwargs)


# -- the sampler itself ---------------------------------------------------------------------


class SamplerCheck:
    """Healthy whenever it runs; ``HealthChecker.report()`` turns it unhealthy when the
    latest report is too old, which is how a stuck sampler shows."""

    component_type = "component"

    def __init__(self, interval_seconds: float, last_round: Callable[[], float | None]) -> None:
        self.interval_seconds = interval_seconds
        self._last_round = last_round

    async def __call__(self) -> CheckResult:
        took = self._last_round()
        last = "" if took is None else f"; the last round took {took:.3f}s"
        return CheckResult.healthy(f"sampling every {self.interval_seconds:g}s{last}")
