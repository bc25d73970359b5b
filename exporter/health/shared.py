"""One health answer per server: each worker's report beside the metric files, merged.

With several worker processes (prometheus-client's multiprocess directory), every worker
runs every check in its own sampler (each has its own pool, memory and event loop) and
writes what it found to ``health_<pid>.json`` after each round and on each event-loop
heartbeat (once a second). Every worker answers with the same merge of the reports of the
workers still running: check by check the worst result (a non-critical check counting at
most as degraded), so a probe gets the server's verdict whichever worker the kernel hands
it to. A worker's report is dropped as soon as its process is gone (or its pid now runs
another process: the document carries the writer's start token), or while it drains on
its way out; a report that stopped coming is judged as the worker's own would be (its
sampler stalled, its event loop stuck).

Reading costs one small file per worker; a probe reuses what was read for
``SHARED_READ_SECONDS`` (a quarter of a second), so a change shows in every worker within a
sampler round plus that.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import _liveness
from .checks import CheckResult, HealthStatus, Measurement, Registration, contribution

SHARED_READ_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """Another worker's latest report as it wrote it."""

    pid: int
    checks: Mapping[str, CheckResult]
    taken_monotonic: float | None  # None: no sample yet
    beat_monotonic: float  # when it wrote this: its event loop's last beat
    draining: bool  # shutting down: no longer part of the server's answer


class SharedReports:
    """This worker's ``health_<pid>.json`` and every other running worker's.

    ``clock`` must be the same in every process: ``time.monotonic`` is, on one host."""

    def __init__(self, directory: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._directory = directory
        self._clock = clock
        self._pid = os.getpid()
        self._path = os.path.join(directory, f"health_{self._pid}.json")
        self._token = _liveness.own_token()
        self._read: tuple[float, list[WorkerReport]] = (-float("inf"), [])

    def write(
        self,
        checks: Mapping[str, CheckResult],
        taken_monotonic: float | None,
        *,
        draining: bool,
    ) -> None:
        """Replace this worker's document (atomically: readers see the old or the new)."""
        body = {
            "pid": self._pid,
            "token": self._token,
            "beat": self._clock(),
            "taken": taken_monotonic,
            "draining": draining,
            "checks": {name: _result_json(result) for name, result in checks.items()},
        }
        temporary = f"{self._path}.tmp"
        with open(temporary, "w") as f:
            f.write(json.dumps(body, separators=(",", ":"), default=str))
        os.replace(temporary, self._path)

    def remove(self) -> None:
        """This worker is stopping: its report no longer counts."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._path)

    def others(self) -> list[WorkerReport]:
        """The reports of the other workers still running and not draining (read at most
        every ``SHARED_READ_SECONDS``), lowest pid first."""
        now = self._clock()
        read_at, reports = self._read
        if now - read_at < SHARED_READ_SECONDS:
            return reports
        reports = []
        for name in glob.glob(os.path.join(self._directory, "health_*.json")):
            document = _load(name)
            if document is None or document.get("pid") == self._pid:
                continue
            if document.get("draining") or not _liveness.running(
                document["pid"], document.get("token")
            ):
                continue
            reports.append(_worker_report(document))
        reports.sort(key=lambda r: r.pid)
        self._read = (now, reports)
        return reports


def merge(
    own: Mapping[str, CheckResult],
    others: list[WorkerReport],
    registrations: Mapping[str, Registration],
    stale_after: float,
    now: float,
) -> dict[str, CheckResult]:
    """Check by check, the worst result of this worker (``own``) and the ``others``.

    An unhealthy or degraded result names its worker and how many share that status (the
    lowest pid's, so every worker answers alike); a healthy one is this worker's own."""
    workers: list[tuple[int, Mapping[str, CheckResult]]] = [(os.getpid(), own)]
    for other in others:
        workers.append((other.pid, _judged_age(other, stale_after, now)))
    merged: dict[str, CheckResult] = {}
    names = dict.fromkeys(name for _, checks in workers for name in checks)
    for name in names:
        found = [(pid, checks[name]) for pid, checks in workers if name in checks]
        merged[name] = _worst(name, found, registrations, len(workers))
    return merged


def stalled_loops(others: list[WorkerReport], limit: float, now: float) -> list[tuple[int, float]]:
    """The other workers whose event loop has not beaten for more than ``limit`` seconds:
    (pid, seconds since its last beat)."""
    return [(r.pid, now - r.beat_monotonic) for r in others if now - r.beat_monotonic > limit]


def _judged_age(report: WorkerReport, stale_after: float, now: float) -> Mapping[str, CheckResult]:
    """A report older than ``stale_after`` means that worker's sampler is stuck, as
    ``HealthChecker.report()`` judges its own."""
    if report.taken_monotonic is None:
        return report.checks
    age = now - report.taken_monotonic
    if age <= stale_after or "sampler" not in report.checks:
        return report.checks
    stalled = CheckResult.unhealthy(f"last health sample is {age:.1f}s old > {stale_after:g}s")
    return {**report.checks, "sampler": stalled}


def _worst(
    name: str,
    found: list[tuple[int, CheckResult]],
    registrations: Mapping[str, Registration],
    workers: int,
) -> CheckResult:
    order = list(HealthStatus)
    ranks = [order.index(contribution(name, r, registrations)) for _, r in found]
    worst = max(ranks)
    if order[worst] is HealthStatus.HEALTHY:
        return found[0][1]  # this worker's own (listed first)
    at_worst = [pid_result for pid_result, rank in zip(found, ranks, strict=True) if rank == worst]
    pid, result = min(at_worst, key=lambda item: item[0])
    if workers == 1:
        return result
    share = f"{len(at_worst)} of {workers} workers"
    return CheckResult(
        result.status, f"{result.reason} (worker {pid}; {share})", result.measurements,
        result.details,
    )  # fmt: skip


def _result_json(result: CheckResult) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "reason": result.reason,
        "measurements": [[m.name, m.value, m.unit] for m in result.measurements],
        "details": dict(result.details),
    }


def _result_of(item: Mapping[str, Any]) -> CheckResult:
    return CheckResult(
        HealthStatus(item["status"]),
        item["reason"],
        tuple(Measurement(*m) for m in item["measurements"]),
        item["details"],
    )


def _worker_report(document: Mapping[str, Any]) -> WorkerReport:
    return WorkerReport(
        pid=document["pid"],
        checks={name: _result_of(item) for name, item in document["checks"].items()},
        taken_monotonic=document.get("taken"),
        beat_monotonic=document["beat"],
        draining=bool(document.get("draining")),
    )


def _load(name: str) -> dict[str, Any] | None:
    try:
        with open(name) as f:
            document: dict[str, Any] = json.load(f)
        return document
    except (FileNotFoundError, ValueError):  # gone, or replaced under us: next time
        return None
