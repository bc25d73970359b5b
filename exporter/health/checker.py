"""HealthChecker: checks run by a background sampler, grouped, judged worst-first.

    health = HealthChecker(pool, collector)        # database, memory, error_rate, sampler
    health.add_check("cache", check_cache, critical=False, timeout=0.5)

Every ``interval_seconds`` the sampler runs all checks at once (each bounded by its
timeout) and keeps the latest report; endpoints read that report, so a probe storm never
reaches the database. Groups decide what the probes look at: ``readiness`` (the checks
that make ``/monitoring/ready`` fail; by default every check, the database included, as
the spec says), ``liveness`` (the event-loop heartbeat and only the checks put there:
never a dependency, or a database hiccup would restart every pod) and any custom group.
A report older than ``stale_periods`` intervals (plus the longest check timeout) means
the sampler itself is stuck: the ``sampler`` check reads unhealthy.

With several worker processes (the collector's multiprocess directory) every worker runs
every check and the answers are the server's: ``report()`` merges the reports of all the
running workers, worst first (see ``shared``); ``own_report()`` is this worker's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from time import perf_counter
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.registry import Collector

from .._names import metric_name
from ..recorder import MetricsSource
from .builtin import (
    DatabaseCheck,
    ErrorRateCheck,
    MemoryCheck,
    PoolCounters,
    SamplerCheck,
    cgroup_memory_limit,
)
from .checks import (
    DEFAULT_TIMEOUT_SECONDS,
    LIVENESS,
    READINESS,
    CheckResult,
    CheckRunner,
    HealthCheck,
    HealthStatus,
    Registration,
    aggregate,
    contribution,
)
from .shared import SharedReports, merge, stalled_loops
from .thresholds import HEARTBEAT_SECONDS, Thresholds

__all__ = ["GroupReport", "HealthChecker", "HealthReport", "HealthStatus"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GroupReport:
    """A group's checks and their worst-first status (non-critical ones at most degraded)."""

    name: str
    status: HealthStatus
    checks: Mapping[str, CheckResult]
    registrations: Mapping[str, Registration]
    taken_at: float | None  # Unix time of the sample, None for a group read live

    def culprits(self) -> list[str]:
        """The checks that set the group's status (a non-critical check counts as
        degraded at most), or none when it is healthy."""
        if self.status is HealthStatus.HEALTHY:
            return []
        return [
            name
            for name, result in self.checks.items()
            if contribution(name, result, self.registrations) is self.status
        ]

    def failing(self) -> list[str]:
        """The culprits as ``name: reason``."""
        return [f"{name}: {self.checks[name].reason}" for name in self.culprits()]


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One sampler round: every check's result, and the registrations it ran under."""

    status: HealthStatus
    checks: Mapping[str, CheckResult]
    registrations: Mapping[str, Registration]
    taken_at: float  # Unix time
    taken_monotonic: float

    def group(self, name: str | None) -> GroupReport:
        """The checks of group ``name`` (``None``: all of them)."""
        regs = {n: r for n, r in self.registrations.items() if name is None or name in r.groups}
        checks = {n: self.checks[n] for n in regs if n in self.checks}
        return GroupReport(name or "all", aggregate(checks, regs), checks, regs, self.taken_at)


class HealthChecker:
    """Runs health checks in the background; answers health, groups and the probes."""

    def __init__(
        self,
        pool: Any | None,
        collector: MetricsSource,
        thresholds: Thresholds | None = None,
        *,
        judged: Callable[[str], bool] | None = None,
        database_in_readiness: bool = True,
    ) -> None:
        """``pool``: a psycopg pool (async or sync), or None for no database check.
        ``judged`` picks the operations whose errors decide health (default: all).
        ``database_in_readiness=False`` keeps a database outage out of ``/monitoring/ready``
        (it still shows in ``/monitoring/health``), for a service that can serve without it."""
        self.pool = pool
        self.collector = collector
        self.thresholds = th = thresholds or Thresholds()
        self._runners: dict[str, CheckRunner] = {}
        self._longest_timeout = 0.0  # of the checks' timeouts (a probe reads it)
        self._report: HealthReport | None = None
        self._last_round: float | None = None
        self._heartbeat: float | None = None
        # The report whose liveness checks were grouped last, and that group (see liveness)
        self._liveness_of: tuple[HealthReport | None, GroupReport] = (None, _NO_LIVENESS_CHECKS)
        self._tasks: list[asyncio.Task[None]] = []
        self._shutting_down = False
        directory = getattr(collector, "multiprocess_dir", None)
        self._shared = SharedReports(directory) if directory else None
        if pool is not None:
            database = DatabaseCheck(pool, th, PoolCounters(collector))
            groups = (READINESS,) if database_in_readiness else ()
            self.add_check("database", database, groups=groups, timeout=database.timeout)
        self.add_check("memory", MemoryCheck(th, cgroup_memory_limit()))
        self.add_check("error_rate", ErrorRateCheck(collector, th, judged))
        self.add_check("sampler", SamplerCheck(th.interval_seconds, lambda: self._last_round))
        collector.registry.register(_HealthMetrics(self))
        for family, rule in MULTIPROCESS_RULES.items():  # how several workers' reports add up
            collector.aggregate(metric_name(collector.namespace, family), rule)

    # -- the checks ------------------------------------------------------------------------

    def add_check(
        self,
        name: str,
        check: HealthCheck,
        *,
        critical: bool = True,
        groups: Iterable[str] = (READINESS,),
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Run ``check`` in every sampler round from the next one on.

        ``critical=False``: failing makes the overall status (and each group's) at most
        degraded. ``groups``: the groups it belongs to besides the overall status
        (default: readiness; ``()`` for none). ``timeout``: seconds before a call counts
        as failed ("timed out after 1s"). A name is used once; a bad argument is a
        ``ValueError``."""
        if name in self._runners:
            raise ValueError(f"a health check named {name!r} is already registered")
        if isinstance(groups, str):
            raise ValueError(f"groups: expected a collection of names, got the string {groups!r}")
        registration = Registration(name, check, critical, frozenset(groups), timeout)
        self._runners[name] = CheckRunner(registration)
        self._longest_timeout = max(self._longest_timeout, timeout)

    @property
    def registrations(self) -> Mapping[str, Registration]:
        return {name: runner.registration for name, runner in self._runners.items()}

    @property
    def groups(self) -> frozenset[str]:
        """Every group served at ``/monitoring/health/{group}``."""
        named = (group for r in self.registrations.values() for group in r.groups)
        return frozenset({READINESS, LIVENESS, *named})

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, wait: bool = True) -> None:
        """Start sampling in the background; with ``wait``, take the first sample first
        (it lasts at most the longest check timeout), so readiness has an answer at once."""
        self._heartbeat = time.monotonic()
        if wait:
            await self.sample()
        self._tasks = [
            asyncio.create_task(self._sample_forever(first=not wait), name="health-sampler"),
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
        for runner in self._runners.values():
            runner.cancel()
        if self._shared is not None:  # a stopped worker's report no longer counts
            self._shared.remove()

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    # -- reading (no slow I/O: several workers' reports are small files, reread 4x a second)

    def report(self) -> HealthReport | None:
        """The latest report of the server: this worker's, merged with every other running
        worker's (check by check the worst) when there are several; None before this
        worker's first sample."""
        own = self.own_report()
        if own is None or self._shared is None:
            return own
        checks = merge(
            own.checks, self._shared.others(), own.registrations, self.stale_after_seconds,
            time.monotonic(),
        )  # fmt: skip
        return replace(own, status=aggregate(checks, own.registrations), checks=checks)

    def own_report(self) -> HealthReport | None:
        """This worker's latest report, marked unhealthy if its sampler has stopped
        producing them."""
        report = self._report
        if report is None:
            return None
        age = time.monotonic() - report.taken_monotonic
        limit = self.stale_after_seconds
        if age <= limit:
            return report
        stalled = CheckResult.unhealthy(f"last health sample is {age:.1f}s old > {limit:g}s")
        checks = {**report.checks, "sampler": stalled}
        return replace(report, status=aggregate(checks, report.registrations), checks=checks)

    @property
    def stale_after_seconds(self) -> float:
        """A report this old means the sampler is stuck: the periods allowed plus one round."""
        periods = self.thresholds.stale_periods * self.thresholds.interval_seconds
        return periods + self._longest_timeout

    def group(self, name: str) -> GroupReport | None:
        """Group ``name`` as of the latest report; None before the first sample (liveness
        never waits for one). ``KeyError`` for an unknown group."""
        if name not in self.groups:
            raise KeyError(name)
        if name == LIVENESS:
            return self._liveness_group()
        report = self.report()
        if name == READINESS:
            return self._readiness_group(report)
        return None if report is None else report.group(name)

    def readiness(self, *, detailed: bool = True) -> tuple[bool, str]:
        """Can this instance take traffic? (ready, reason); ``detailed=False`` names the
        failing checks without their reasons."""
        group = self._readiness_group(self.report())
        if group is None:
            return False, "no health sample yet"
        if group.status is not HealthStatus.UNHEALTHY:
            return True, group.status.value
        return False, verdict(group, detailed)

    def liveness(self, *, detailed: bool = True) -> tuple[bool, str]:
        """Is the process able to serve at all? Never looks at the database.

        The usual answer (alive) is the cheap one: a probe may come many times a second, so
        while the heartbeat is fresh it costs a clock read and a look at the liveness
        checks of the latest report (grouped once per report), nothing built per call."""
        if (
            self._beating()
            and self._report_liveness(self.report()).status is not HealthStatus.UNHEALTHY
        ):
            return True, "alive"
        group = self._liveness_group()  # failing (or just recovered): the full account
        if group.status is not HealthStatus.UNHEALTHY:
            return True, "alive"
        return False, verdict(group, detailed)

    def _readiness_group(self, report: HealthReport | None) -> GroupReport | None:
        # Lifecycle first: these hold before (and regardless of) any sample.
        if self._shutting_down:
            return _marker(READINESS, "shutdown", "shutting down")
        if report is not None:  # a sample says why (a pool not yet open fails its ping)
            return report.group(READINESS)
        database = self.registrations.get("database")
        if database and READINESS in database.groups and getattr(self.pool, "closed", False):
            return _marker(READINESS, "database", "database pool is not open")
        return None

    def _liveness_group(self) -> GroupReport:
        group = self._report_liveness(self.report())
        checks = {"event_loop": self._heartbeat_result(), **group.checks}
        return replace(group, status=aggregate(checks, group.registrations), checks=checks)

    def _report_liveness(self, report: HealthReport | None) -> GroupReport:
        """The liveness checks of ``report``, grouped once per report (the same object
        until the next sample; a merged or stale one is new each time, and grouped anew)."""
        grouped_for, group = self._liveness_of
        if grouped_for is not report:
            group = _NO_LIVENESS_CHECKS if report is None else report.group(LIVENESS)
            self._liveness_of = (report, group)
        return group

    def _beating(self) -> bool:
        """Would the ``event_loop`` check read healthy now? (what it says, without saying it)"""
        if self._heartbeat is None or not self._tasks:
            return True
        now, limit = time.monotonic(), self.thresholds.liveness_stale_seconds
        return now - self._heartbeat <= limit and self._stalled_worker(limit, now) is None

    def _heartbeat_result(self) -> CheckResult:
        if self._heartbeat is None or not self._tasks:
            return CheckResult.healthy("not started")
        now, limit = time.monotonic(), self.thresholds.liveness_stale_seconds
        age = now - self._heartbeat
        if age > limit:
            return CheckResult.unhealthy(f"event loop heartbeat is {age:.1f}s old")
        stalled = self._stalled_worker(limit, now)
        if stalled is not None:
            pid, other = stalled
            return CheckResult.unhealthy(f"worker {pid}: event loop heartbeat is {other:.1f}s old")
        return CheckResult.healthy(f"event loop heartbeat {age:.1f}s ago")

    def _stalled_worker(self, limit: float, now: float) -> tuple[int, float] | None:
        """Another worker whose event loop has not beaten within ``limit`` (its pid and
        heartbeat age): one stuck loop is the server's fault. None with one worker."""
        if self._shared is None:
            return None
        return next(iter(stalled_loops(self._shared.others(), limit, now)), None)

    # -- sampling --------------------------------------------------------------------------

    async def sample(self) -> HealthReport:
        """One round: every check at once, each within its timeout; the result becomes
        the latest report."""
        started = perf_counter()
        runners = dict(self._runners)
        results = await asyncio.gather(*(runner.run() for runner in runners.values()))
        checks = dict(zip(runners, results, strict=True))
        registrations = {name: runner.registration for name, runner in runners.items()}
        self._last_round = perf_counter() - started
        self._log_changes(checks)
        self._report = HealthReport(
            status=aggregate(checks, registrations),
            checks=checks,
            registrations=registrations,
            taken_at=time.time(),
            taken_monotonic=time.monotonic(),
        )
        self._share()
        return self._report

    def _share(self) -> None:
        """Write this worker's report for the others (several workers): after each round,
        and on each heartbeat, which is how the others see this event loop beating."""
        if self._shared is None:
            return
        report = self._report
        checks = {} if report is None else report.checks
        taken = None if report is None else report.taken_monotonic
        try:
            self._shared.write(checks, taken, draining=self._shutting_down)
        except OSError:  # a full directory: the others see this report age, then stale
            log.warning("could not write this worker's health report", exc_info=True)

    def _log_changes(self, checks: Mapping[str, CheckResult]) -> None:
        before = self._report.checks if self._report else {}
        for name, result in checks.items():
            was = before.get(name)
            if was is not None and was.status is not result.status:
                level = logging.INFO if result.status is HealthStatus.HEALTHY else logging.WARNING
                log.log(level, "health check %s: %s -> %s: %s", name, was.status.value,
                        result.status.value, result.reason)  # fmt: skip

    async def _sample_forever(self, first: bool = False) -> None:
        while True:
            if not first:
                await asyncio.sleep(self.thresholds.interval_seconds)
            first = False
            try:
                await self.sample()
            except Exception:  # a broken round must not kill the sampler; staleness shows it
                log.exception("health sample failed")

    async def _beat_forever(self) -> None:
        while True:
            self._heartbeat = time.monotonic()
            self._share()
            await asyncio.sleep(HEARTBEAT_SECONDS)


_NO_LIVENESS_CHECKS = GroupReport(LIVENESS, HealthStatus.HEALTHY, {}, {}, None)  # no sample yet


def _marker(group: str, name: str, reason: str) -> GroupReport:
    """A group failed by a lifecycle fact rather than a check's result."""
    return GroupReport(group, HealthStatus.UNHEALTHY, {name: CheckResult.unhealthy(reason)}, {},
                       None)  # fmt: skip


def verdict(group: GroupReport, detailed: bool) -> str:
    """Why a group fails: ``"unhealthy: database: ping failed ..."``; without details, only
    the names (``"unhealthy: database"``). Lifecycle markers read as their reason."""
    if not group.registrations and len(group.checks) == 1:
        (result,) = group.checks.values()
        return result.reason
    failing = group.failing() if detailed else group.culprits()
    return f"{group.status.value}: " + "; ".join(failing)


# -- Prometheus series ------------------------------------------------------------------------


# Under several worker processes: a check is up only where it is up in every worker, the
# slowest ping counts, the status is the worst (a state set's default); pools add up.
MULTIPROCESS_RULES = {"health_check_up": "min", "db_up": "min", "db_ping_seconds": "max"}


class _HealthMetrics(Collector):
    """Health gauges read from the latest report at scrape time (so a stall shows too)."""

    def __init__(self, checker: HealthChecker) -> None:
        self._checker = checker

    def describe(self) -> Iterator[Metric]:
        return iter(self._families(None))

    def collect(self) -> Iterator[Metric]:
        # This worker's own: several workers' series are merged by MULTIPROCESS_RULES.
        return iter(self._families(self._checker.own_report()))

    def _families(self, report: HealthReport | None) -> list[Metric]:
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
        families: list[Metric] = [status, up, db_up, ping, conns, pool_max, waiting]
        if report is None:
            return families
        status.add_metric([], {s.value: s is report.status for s in HealthStatus})
        for name, check in report.checks.items():
            up.add_metric([name], float(check.status is not HealthStatus.UNHEALTHY))
        database = report.checks.get("database")
        if database is not None:
            db_up.add_metric([], float(database.status is not HealthStatus.UNHEALTHY))
            d = database.details
            if d.get("ping_seconds") is not None:
                ping.add_metric([], d["ping_seconds"])
            if "open_connections" in d:  # absent when the check itself timed out
                for state in ("open", "in_use", "idle"):
                    conns.add_metric([state], d[f"{state}_connections"])
                pool_max.add_metric([], d["max_connections"])
                waiting.add_metric([], d["requests_waiting"])
        return families
