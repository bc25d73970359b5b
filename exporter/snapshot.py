"""One consistent snapshot of the monitoring views, for the status page.

Reading the metrics back is the costly part of every view, and two reads a moment apart
need not agree. A snapshot reads them once and makes the ``/monitoring/metrics``,
``/monitoring/system`` and ``/monitoring/health`` bodies from that one read, so a page built
from it shows exactly what those endpoints would have answered at that instant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .collector import MetricsCollector
from .stats import HistoryPoint, OperationStats
from .views import WINDOW_NAMES, operations_view


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every figure of the status page, and the JSON bodies they equal, as of one read."""

    operations: dict[str, Any]  # the /monitoring/metrics body
    system: dict[str, Any]  # the /monitoring/system body (with the service's extras)
    health: dict[str, Any] | None  # the /monitoring/health body; None: no sample or checker
    history: list[HistoryPoint]  # oldest first
    version: str


def take(
    collector: MetricsCollector,
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
        collector.history(),
        collector.version,
    )
