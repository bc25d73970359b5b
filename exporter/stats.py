"""Plain value types the collector hands out: per-operation records and window figures.

Records hold only sums, minima, maxima and the newest timestamp, never averages, so the
records of several worker processes merge exactly (``a.merge(b)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .native.quantile import bounded
from .native.state import NativeState, difference


def percent(part: float, whole: float) -> float:
    """``part`` as a percentage of ``whole`` (0.0 when there is no whole)."""
    return 100.0 * part / whole if whole else 0.0


class _Rates:
    """Average and error rate, derived from the sums (never stored, so records merge)."""

    __slots__ = ()
    count: int
    errors: int
    total_seconds: float

    @property
    def avg_seconds(self) -> float | None:
        return self.total_seconds / self.count if self.count else None

    @property
    def error_rate(self) -> float:
        """Errors as a percentage of operations (12 in 15,420 -> 0.0778)."""
        return percent(self.errors, self.count)


@dataclass(frozen=True, slots=True)
class OperationStats(_Rates):
    """Everything known about one operation since start (or since the last reset)."""

    name: str
    count: int = 0
    errors: int = 0
    total_seconds: float = 0.0
    min_seconds: float | None = None
    max_seconds: float | None = None
    last_recorded: float | None = None  # Unix time of the newest record

    def merge(self, other: OperationStats) -> OperationStats:
        """Combine two records of the same operation (say, from two workers)."""
        return OperationStats(
            name=self.name,
            count=self.count + other.count,
            errors=self.errors + other.errors,
            total_seconds=self.total_seconds + other.total_seconds,
            min_seconds=_pick(min, self.min_seconds, other.min_seconds),
            max_seconds=_pick(max, self.max_seconds, other.max_seconds),
            last_recorded=_pick(max, self.last_recorded, other.last_recorded),
        )


def _pick(
    choose: Callable[[float, float], float], a: float | None, b: float | None
) -> float | None:
    if a is None:
        return b
    return a if b is None else choose(a, b)


@dataclass(frozen=True, slots=True)
class Cumulative:
    """One operation's monotonic totals at an instant: what sources read, windows subtract
    and worker processes add up."""

    count: int = 0
    errors: int = 0
    total_seconds: float = 0.0
    buckets: tuple[int, ...] = ()  # cumulative, one entry per bound and a last one for +Inf
    native: NativeState | None = None  # the native histogram, when the collector keeps one

    def minus(self, old: Cumulative | None) -> Cumulative:
        if old is None:
            return self
        native = self.native
        if native is not None:
            native = difference(native, old.native)
        return Cumulative(
            self.count - old.count,
            self.errors - old.errors,
            self.total_seconds - old.total_seconds,
            tuple(a - b for a, b in zip(self.buckets, old.buckets, strict=True)),
            native,
        )


def total_of(parts: Iterable[Cumulative]) -> Cumulative:
    """Several operations' totals added up (they share the collector's bucket bounds)."""
    count = errors = 0
    seconds = 0.0
    buckets: list[int] = []
    native: NativeState | None = None
    for part in parts:
        if part.native is not None:
            native = part.native if native is None else native.merge(part.native)
        count += part.count
        errors += part.errors
        seconds += part.total_seconds
        if len(buckets) < len(part.buckets):
            buckets.extend([0] * (len(part.buckets) - len(buckets)))
        for i, value in enumerate(part.buckets):
            buckets[i] += value
    return Cumulative(count, errors, seconds, tuple(buckets), native)


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """Every operation together over one step of the history (for the status page)."""

    at: float  # Unix time the step ended
    seconds: float  # its length
    count: int
    errors: int
    p95_seconds: float | None

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_rate(self) -> float:
        return percent(self.errors, self.count)


@dataclass(frozen=True, slots=True)
class Extremes:
    """The figures Prometheus does not keep: fastest, slowest and newest record."""

    min_seconds: float | None = None
    max_seconds: float | None = None
    last_recorded: float | None = None  # Unix time

    def merge(self, other: Extremes) -> Extremes:
        return Extremes(
            _pick(min, self.min_seconds, other.min_seconds),
            _pick(max, self.max_seconds, other.max_seconds),
            _pick(max, self.last_recorded, other.last_recorded),
        )


@dataclass(frozen=True, slots=True)
class WindowStats(_Rates):
    """One operation (or all of them) over the last ``seconds``."""

    seconds: float
    count: int
    errors: int
    total_seconds: float
    p50_seconds: float | None
    p95_seconds: float | None
    p99_seconds: float | None


def bucket_quantile(
    q: float,
    bounds: Sequence[float],
    cumulative: Sequence[int],
    observed: tuple[float | None, float | None] = (None, None),
) -> float | None:
    """Estimate a quantile from cumulative histogram buckets, as PromQL's histogram_quantile.

    ``bounds`` are the finite upper bounds; ``cumulative`` has one more entry, for +Inf.
    Within a bucket the observations are assumed evenly spread; a quantile that falls in
    the +Inf bucket is reported as the highest finite bound. ``observed``: the smallest and
    largest value known to be among the observations (or a range that holds them all);
    the estimate never leaves it (a bucket's interpolation alone can report 0.05 for
    observations that were all under 0.008).
    """
    total = cumulative[-1]
    if total <= 0:
        return None
    estimate = _interpolate(q * total, bounds, cumulative)
    return bounded(estimate, observed)


def _interpolate(rank: float, bounds: Sequence[float], cumulative: Sequence[int]) -> float:
    below = 0
    for i, upto in enumerate(cumulative):
        if upto >= rank and upto > below:
            if i == len(bounds):
                return bounds[-1]
            lower = bounds[i - 1] if i else 0.0
            return lower + (bounds[i] - lower) * (rank - below) / (upto - below)
        below = upto
    return bounds[-1]
