"""Timing operations: an explicit timer (the Go ``defer timer.End(err)`` style), a
``with`` block and a decorator, each counting a raised exception as an error.

Every form calls its recorder's ``record_operation`` once, with the elapsed ``perf_counter``
seconds; they hold nothing but the recorder (or its bound method), the name and a start
time, so each costs two clock reads and one record over the work it times, and an
exception is classified only when one was raised.
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

    ``with`` yields the Timing itself; its ``elapsed`` is set when the block ends, and
    ``started`` holds the block's start (``perf_counter``) while it runs, None otherwise.

    Make one with :meth:`of`, or fill the five slots as ``MetricsCollector.time`` does: the
    class has no ``__init__`` because a Python one is a call more on every timed block (a
    tenth of the ``with`` form's cost), and ``object``'s own is free.
    """

    __slots__ = ("elapsed", "expected", "name", "recorder", "started")

    recorder: Recorder
    name: str
    expected: Expected
    started: float | None
    elapsed: float | None

    @classmethod
    def of(cls, recorder: Recorder, name: str, expected: Expected = ()) -> Timing:
        """A Timing of ``name`` recording into ``recorder`` (``expected``: see ``_failure``)."""
        timing = cls()
        timing.recorder, timing.name, timing.expected = recorder, name, expected
        timing.started = timing.elapsed = None
        return timing

    def __enter__(self) -> Timing:
        if self.started is not None:
            # One Timing times one block at a time; sharing it between concurrent blocks
            # would mix up their start times, so refuse instead of recording nonsense.
            raise RuntimeError(f"time({self.name!r}) is already timing a block")
        self.started = perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.elapsed = elapsed = perf_counter() - self.started  # type: ignore[operator]
        self.started = None
        # Classify only a raised exception: the common (clean) exit passes None.
        self.recorder.record_operation(
            self.name, elapsed, None if exc is None else _failure(exc, self.expected)
        )

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return timed(self.recorder.record_operation, self.name, self.expected)(func)


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
