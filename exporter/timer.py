"""Timing operations: an explicit timer (the Go ``defer timer.End(err)`` style) and a
``with``-block / decorator form that counts a raised exception as an error."""

from __future__ import annotations

import functools
import inspect
from time import perf_counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .collector import MetricsCollector


class OperationTimer:
    """Started on construction; ``end(err)`` records the operation once."""

    __slots__ = ("_collector", "_name", "_start", "elapsed")

    def __init__(self, collector: MetricsCollector, name: str) -> None:
        self._collector = collector
        self._name = name
        self.elapsed: float | None = None
        self._start = perf_counter()

    def end(self, err: BaseException | bool | None = None) -> float:
        """Record the operation (``err`` None = success) and return its duration in seconds.

        Only the first call records: a second ``end`` returns the same duration.
        """
        if self.elapsed is None:
            self.elapsed = perf_counter() - self._start
            self._collector.record_operation(self._name, self.elapsed, err)
        return self.elapsed

    def end_ok(self) -> float:
        return self.end(None)


class Timing:
    """What ``collector.time(name)`` returns: a context manager and a decorator.

    An exception counts as an error and is re-raised, unless it is one of ``expected``
    (say, the caller's own mistake, answered correctly): that is re-raised as a success.
    So is a cancellation (``CancelledError``, ``KeyboardInterrupt``): nothing failed.
    """

    __slots__ = ("_collector", "_expected", "_name", "_timer")

    def __init__(
        self,
        collector: MetricsCollector,
        name: str,
        expected: type[BaseException] | tuple[type[BaseException], ...] = (),
    ) -> None:
        self._collector = collector
        self._name = name
        self._expected = expected
        self._timer: OperationTimer | None = None

    def __enter__(self) -> OperationTimer:
        if self._timer is not None:
            # One Timing times one block at a time; sharing it between concurrent blocks
            # would mix up their start times, so refuse instead of recording nonsense.
            raise RuntimeError(f"time({self._name!r}) is already timing a block")
        self._timer = OperationTimer(self._collector, self._name)
        return self._timer

    def __exit__(self, exc_type, exc, tb) -> None:
        timer, self._timer = self._timer, None
        # Cancellation (shutdown, a caller's timeout) is not the operation failing.
        failed = isinstance(exc, Exception) and not isinstance(exc, self._expected)
        timer.end(exc if failed else None)

    def __call__(self, func):
        collector, name, expected = self._collector, self._name, self._expected
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: Any, **kwargs: Any):
                with Timing(collector, name, expected):
                    return await func(*args, **kwargs)

            return timed_async

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any):
            with Timing(collector, name, expected):
                return func(*args, **kwargs)

        return timed
