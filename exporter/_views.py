"""The JSON shapes of the ``/monitoring/*`` endpoints, kept to the spec's field names.

Go's fields keep their names with their honest Python meaning; numeric siblings
(``*_seconds``, ``*_bytes``) are there for machines, the strings for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._formatting import go_duration, ms, rfc3339
from .recorder import MetricsSource
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
    collector: MetricsSource, names: list[str] | None = None, read: Read | None = None
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
    collector: MetricsSource, records: Mapping[str, OperationStats] | None = None
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
