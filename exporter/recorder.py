"""The two roles a collector plays, as protocols others depend on.

``Recorder``: what timers, middleware and a service need to record operations.
``MetricsSource``: a Recorder whose records can be read back, which health checks, the JSON
views and the status page need. ``MetricsCollector`` records into prometheus-client;
``NullCollector`` records nothing (to measure what instrumentation costs). Code that only
records should accept a ``Recorder``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterable

    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

    from .stats import HistoryPoint, OperationStats, WindowStats

# Exception types a timed block may raise without it counting as a failure of the operation.
Expected = type[BaseException] | tuple[type[BaseException], ...]


class Record(Protocol):
    """``record_operation``'s signature: ``error`` None (or False) means success."""

    def __call__(
        self, name: str, duration_seconds: float, error: BaseException | bool | None = None
    ) -> None: ...


class Ending(Protocol):
    """What ``timer()`` returns: call ``end(err)`` once the operation is over."""

    def end(self, err: BaseException | bool | None = None) -> float: ...

    def end_ok(self) -> float: ...


class Timed(Protocol):
    """What ``time()`` returns: a context manager and a decorator."""

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]: ...


@runtime_checkable
class Recorder(Protocol):
    """Records named operations; owns the registry and namespace that others add series to."""

    namespace: str
    registry: CollectorRegistry

    def record_operation(
        self, name: str, duration_seconds: float, error: BaseException | bool | None = None
    ) -> None: ...

    def time(self, name: str, expected: Expected = ()) -> Timed: ...

    def timer(self, name: str) -> Ending: ...

    def aggregate(self, family: str, rule: str) -> None: ...


class MetricsSource(Recorder, Protocol):
    """A Recorder whose records can be read back: what health, views and the page read."""

    @property
    def version(self) -> str: ...

    @property
    def multiprocess_dir(self) -> str | None: ...

    @property
    def exposition_registry(self) -> Collector: ...

    @property
    def uptime_seconds(self) -> float: ...

    def snapshot(self) -> dict[str, OperationStats]: ...

    def view(
        self, *windows: float
    ) -> tuple[dict[str, OperationStats], dict[float, dict[str, WindowStats]]]: ...

    def window_total(
        self, seconds: float, include: Callable[[str], bool] | None = None
    ) -> WindowStats: ...

    def history(self) -> list[HistoryPoint]: ...

    def error_rate(self, stats: Iterable[OperationStats]) -> float: ...

    def reset(self) -> None: ...
