"""The JSON shapes of the ``/monitoring/*`` endpoints, kept to the spec's field names.

Go's fields keep their names with their honest Python meaning; numeric siblings
(``*_seconds``, ``*_bytes``) are there for machines, the strings for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .collector import MetricsCollector
from .formatting import go_duration, human_bytes, ms, rfc3339
from .health import HealthChecker, HealthReport, HealthStatus, memory_limits
from .stats import OperationStats, WindowStats

WINDOW_NAMES = {"1m": 60.0, "5m": 300.0}


def window_view(w: WindowStats) -> dict[str, Any]:
    return {
        "count": w.count,
        "error_count": w.errors,
        "error_rate": round(w.error_rate, 3),
        "avg_duration_ms": ms(w.avg_seconds),
        "p50_ms": ms(w.p50_seconds),
        "p95_ms": ms(w.p95_seconds),
        "p99_ms": ms(w.p99_seconds),
    }


def operation_view(stats: OperationStats, windows: Mapping[str, WindowStats]) -> dict[str, Any]:
    return {
        "name": stats.name,
        "count": stats.count,
        "avg_duration_ms": ms(stats.avg_seconds),
        "min_duration_ms": ms(stats.min_seconds),
        "max_duration_ms": ms(stats.max_seconds),
        "total_duration": go_duration(stats.total_seconds),
        "total_duration_seconds": round(stats.total_seconds, 6),
        "error_count": stats.errors,
        "error_rate": round(stats.error_rate, 3),
        "last_recorded": rfc3339(stats.last_recorded),
        "window": {label: window_view(w) for label, w in windows.items()},
    }


Read = tuple[dict[str, OperationStats], dict[float, dict[str, WindowStats]]]


def operations_view(
    collector: MetricsCollector, names: list[str] | None = None, read: Read | None = None
) -> dict[str, Any]:
    """Operations recorded since start (or reset), or just ``names``, keyed by name
    (from ``read``, a ``collector.view(*WINDOW_NAMES.values())`` taken already, if given)."""
    snapshot, windows = read or collector.view(*WINDOW_NAMES.values())
    chosen = names if names is not None else [n for n, s in snapshot.items() if s.count]
    return {
        name: operation_view(
            snapshot[name], {label: windows[s][name] for label, s in WINDOW_NAMES.items()}
        )
        for name in chosen
        if name in snapshot
    }


def system_view(
    collector: MetricsCollector, records: Mapping[str, OperationStats] | None = None
) -> dict[str, Any]:
    records = collector.snapshot() if records is None else records
    stats = [s for s in records.values() if s.count]
    count = sum(s.count for s in stats)
    errors = sum(s.errors for s in stats)
    total = sum(s.total_seconds for s in stats)
    uptime = collector.uptime_seconds
    return {
        "uptime": go_duration(round(uptime)),
        "uptime_seconds": round(uptime, 3),
        "total_operations": count,
        "total_errors": errors,
        "error_rate": round(collector.error_rate(stats), 3),
        "avg_latency_ms": ms(total / count) if count else 0.0,
        "max_latency_ms": ms(max((s.max_seconds or 0.0 for s in stats), default=0.0)),
        "monitored_operations": len(stats),
    }


def health_view(checker: HealthChecker, report: HealthReport, system: dict) -> dict[str, Any]:
    db, mem = report.database, report.memory
    stats = db.stats
    open_, idle = stats.get("pool_size"), stats.get("pool_available")
    database: dict[str, Any] = {"status": "not_configured", "ping": None}
    if db.configured:
        database = {
            "status": report.checks["database"].status.value,
            "ping": bool(db.ping),
            "ping_seconds": None if db.ping_seconds is None else round(db.ping_seconds, 6),
            "error": db.error,
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
    degraded, unhealthy = memory_limits(mem, checker.thresholds)
    memory = {
        "alloc": human_bytes(mem.rss_bytes),
        "alloc_bytes": mem.rss_bytes,
        "total_alloc": None,  # Python keeps no lifetime allocation total (tracemalloc is off)
        "sys": human_bytes(mem.vms_bytes),
        "sys_bytes": mem.vms_bytes,
        "num_gc": mem.num_gc,
        "goroutines": mem.threads + mem.tasks,
        "threads": mem.threads,
        "asyncio_tasks": mem.tasks,
        "last_gc_time": rfc3339(mem.last_gc),
        "limit_bytes": mem.limit_bytes,
        "degraded_bytes": int(degraded),
        "unhealthy_bytes": int(unhealthy),
    }
    return {
        "status": report.status.value,
        "uptime": system["uptime"],
        "uptime_seconds": system["uptime_seconds"],
        "database": database,
        "memory": memory,
        "operation_metrics": system,
        "checks": {
            name: {"status": c.status.value, "reason": c.reason}
            for name, c in report.checks.items()
        },
        "timestamp": rfc3339(report.taken_at),
    }


_IETF = {
    HealthStatus.HEALTHY: "pass",
    HealthStatus.DEGRADED: "warn",
    HealthStatus.UNHEALTHY: "fail",
}


def health_ietf_view(report: HealthReport, service_id: str, version: str) -> dict[str, Any]:
    """The same facts as the IETF health-check draft's ``application/health+json``."""
    checks = report.checks
    at = rfc3339(report.taken_at)
    db = report.database

    def entry(check_name: str, component: str, value: Any, unit: str | None) -> list[dict]:
        check = checks[check_name]
        item = {
            "componentType": component,
            "observedValue": value,
            "observedUnit": unit,
            "status": _IETF[check.status],
            "time": at,
        }
        if check.status is not HealthStatus.HEALTHY:
            item["output"] = check.reason
        return [item]

    body: dict[str, Any] = {
        "status": _IETF[report.status],
        "version": version.split(".")[0],
        "releaseId": version,
        "serviceId": service_id,
        "description": f"{service_id} health",
        "checks": {},
    }
    if db.configured:
        body["checks"]["database:responseTime"] = entry(
            "database", "datastore", ms(db.ping_seconds), "ms"
        )
        in_use = db.stats["pool_size"] - db.stats["pool_available"]
        body["checks"]["database:connections"] = entry("database", "datastore", in_use, None)
    body["checks"]["process:memory"] = entry("memory", "system", report.memory.rss_bytes, "bytes")
    body["checks"]["operations:errorRate"] = entry(
        "error_rate", "component", round(report.errors.error_rate, 3), "percent"
    )
    body["checks"]["health:sampler"] = entry("sampler", "component", None, None)
    if report.status is not HealthStatus.HEALTHY:
        body["output"] = "; ".join(
            c.reason for c in checks.values() if c.status is not HealthStatus.HEALTHY
        )
    return body
