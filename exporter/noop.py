"""NullCollector: the MetricsCollector API with the instrumentation switched off.

``EXPORTER_INSTRUMENTATION=off`` makes ``create_app`` use it, so the cost of timing every
operation can be measured (``aiexpense-bench`` compares mixed-load throughput on and off).
Timers and records do nothing; the JSON views see no operations. The registry is real, so
the series other components register (health, pool, caches, job queue, process) are still
served at ``/metrics``: only the per-operation timing goes away.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from .stats import HistoryPoint, OperationStats, WindowStats


class _NullTimer:
    """An OperationTimer that records nothing (one shared instance)."""

    __slots__ = ()
    elapsed = 0.0

    def end(self, err: BaseException | bool | None = None) -> float:
        return 0.0

    def end_ok(self) -> float:
        return 0.0


_TIMER = _NullTimer()


class _NullTiming:
    """What ``NullCollector.time()`` returns: a context manager and a decorator."""

    __slots__ = ()

    def __enter__(self) -> _NullTimer:
        return _TIMER

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def passthrough_async(*args: Any, **kwargs: Any) -> Any:
                return await func(*args, **kwargs)

            return passthrough_async
        return func


_TIMING = _NullTiming()


class NullCollector:
    """Drop-in for :class:`~exporter.MetricsCollector` that records no operation."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "",
        version: str | None = None,
        process_metrics: bool = True,
        **_ignored: Any,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.namespace = namespace
        self.version = version or "unknown"
        self.buckets: tuple[float, ...] = ()
        self.max_operations = 0
        self.started_at = time.time()
        self.multiprocess_dir: str | None = None
        self.exposition_registry = self.registry
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    def record_operation(
        self, name: str, duration_seconds: float, error: BaseException | bool | None = None
    ) -> None:
        return None

    def time(self, name: str, expected: Any = ()) -> _NullTiming:
        return _TIMING

    def timer(self, name: str) -> _NullTimer:
        return _TIMER

    def operations(self) -> list[str]:
        return []

    def snapshot(self) -> dict[str, OperationStats]:
        return {}

    def get(self, name: str) -> OperationStats | None:
        return None

    def windows(self, seconds: float) -> dict[str, WindowStats]:
        return {}

    def view(
        self, *windows: float
    ) -> tuple[dict[str, OperationStats], dict[float, dict[str, WindowStats]]]:
        return {}, {seconds: {} for seconds in windows}

    def window_total(self, seconds: float, include: Any = None) -> WindowStats:
        return WindowStats(seconds, 0, 0, 0.0, None, None, None)

    def reset(self) -> None:
        return None

    def history(self) -> list[HistoryPoint]:
        return []

    def aggregate(self, family: str, rule: str) -> None:
        return None

    def close(self) -> None:
        return None

    @property
    def uptime_seconds(self) -> float:
        return max(0.0, time.time() - self.started_at)

    def error_rate(self, stats: Iterable[OperationStats]) -> float:
        return 0.0
