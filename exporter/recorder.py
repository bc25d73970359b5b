"""The Recorder role: what timers, middleware and a service depend on to record operations.

``MetricsCollector`` records into prometheus-client; ``NullCollector`` records nothing (to
measure what instrumentation costs). Code that only records should accept a ``Recorder``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

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
