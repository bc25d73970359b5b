"""Timing operations: an explicit timer (the Go ``defer timer.End(err)`` style), a
``with`` block and a decorator, each counting a raised exception as an error.

Every form calls its recorder's ``record_operation`` once, with the elapsed ``perf_counter``
seconds; they hold nothing but that bound method, the name and a start time, so each costs
two clock reads and one record over the work it times.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .recorder import Expected

if TYPE_CHECKING:
    from .recorder import Record, Recorder


def _failure(exc: BaseException, expected: Expected) -> BaseException | None:
    """The error to record for ``exc``: None for an expected one (the caller's own mistake,
    answered correctly) and for a cancellation (``CancelledError``, ``KeyboardInterrupt``:
    nothing failed)."""
    return exc if isinstance(exc, Exception) and not isinstance(exc, expected) else None


class OperationTimer:
    """Started on construction; ``end(err)`` records the operation once."""

    __slots__ = ("_name", "_record", "_start", "elapsed")

    def __init__(self, recorder: Recorder, name: str) -> None:
        self._record = recorder.record_operation
        self._name = name
        self.elapsed: float | None = None
        self._start = perf_counter()

    def end(self, err: BaseException | bool | None = None) -> float:
        """Record the operation (``err`` None = success) and return its duration in seconds.

        Only the first call records: a second ``end`` returns the same duration.
        """
        if self.elapsed is None:
            self.elapsed = perf_counter() - self._start
            self._record(self._name, self.elapsed, err)
        return self.elapsed

    def end_ok(self) -> float:
        return self.end(None)


class Timing:
    """What ``collector.time(name)`` returns: a context manager and a decorator.

    ``with`` yields the Timing itself; its ``elapsed`` is set when the block ends.
    """

    __slots__ = ("_expected", "_name", "_record", "_start", "elapsed")

    def __init__(self, recorder: Recorder, name: str, expected: Expected = ()) -> None:
        self._record = recorder.record_operation
        self._name = name
        self._expected = expected
        self._start: float | None = None
        self.elapsed: float | None = None

    def __enter__(self) -> Timing:
        if self._start is not None:
            # One Timing times one block at a time; sharing it between concurrent blocks
            # would mix up their start times, so refuse instead of recording nonsense.
            raise RuntimeError(f"time({self._name!r}) is already timing a block")
        self._start = perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = perf_counter() - self._start  # type: ignore[operator]
        self._start = None
        self.elapsed = elapsed
        self._record(self._name, elapsed, None if exc is None else _failure(exc, self._expected))

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return timed(self._record, self._name, self._expected)(func)


def timed(
    record: Record, name: str, expected: Expected = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator timing every call of a sync or async function (inlined: no Timing object
    per call)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = perf_counter()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    record(name, perf_counter() - start, _failure(exc, expected))
                    raise
                record(name, perf_counter() - start, None)
                return result

            return timed_async

        @functools.wraps(func)
        def timed_sync(*args: Any, **kwargs: Any) -> Any:
            start = perf_counter()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                record(name, perf_counter() - start, _failure(exc, expected))
                raise
            record(name, perf_counter() - start, None)
            return result

        return timed_sync

    return decorate
