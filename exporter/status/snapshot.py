"""One consistent snapshot of the monitoring views, for the status page.

Reading the metrics back is the costly part of every view, and two reads a moment apart
need not agree. A snapshot reads them once and makes the ``/monitoring/metrics``,
``/monitoring/system`` and ``/monitoring/health`` bodies from that one read, so a page built
from it shows exactly what those endpoints would have answered at that instant.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._formatting import ms, rfc3339
from .._views import WINDOW_NAMES, operations_view
from ..recorder import MetricsSource
from ..stats import HistoryPoint, OperationStats


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every figure of the status page, and the JSON bodies they equal, as of one read."""

    operations: dict[str, Any]  # the /monitoring/metrics body
    system: dict[str, Any]  # the /monitoring/system body (with the service's extras)
    health: dict[str, Any] | None  # the /monitoring/health body; None: no sample or checker
    history: Sequence[Mapping[str, Any]]  # the /monitoring/history body, oldest first
    version: str


def take(
    collector: MetricsSource,
    system_of: Callable[[Mapping[str, OperationStats]], dict[str, Any]],
    health_of: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> Snapshot:
    """``system_of`` makes the system body (with the extras) from the records read;
    ``health_of`` makes the health body around that summary (no I/O: the latest sample)."""
    read = collector.view(*WINDOW_NAMES.values())
    system = system_of(read[0])
    return Snapshot(
        operations_view(collector, read=read),
        system,
        health_of(system),
        _history_of(tuple(collector.history())),
        collector.version,
    )


@functools.lru_cache(maxsize=8)
def _history_of(points: tuple[HistoryPoint, ...]) -> tuple[Mapping[str, Any], ...]:
    """``history_view``, once per history step: its points change once a minute, the page
    asks every few seconds. (Equal points give the very same tuple, which lets the page
    reuse its sparklines too.)"""
    return tuple(history_view(points))


def history_view(points: Sequence[HistoryPoint]) -> list[dict[str, Any]]:
    """``/monitoring/history``: every operation together, one point a minute (a step may be
    longer after a quiet spell: ``seconds``) over the last 30 minutes, oldest first."""
    return [
        {
            "at": rfc3339(p.at),
            "seconds": round(p.seconds, 3),
            "count": p.count,
            "errors": p.errors,
            "rate": round(p.rate, 3),  # operations per second
            "error_rate": round(p.error_rate, 3),  # percent, as everywhere
            "p95_ms": ms(p.p95_seconds),
        }
        for p in points
    ]
