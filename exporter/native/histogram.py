"""One live histogram: native (sparse exponential) buckets, classic buckets beside them if
configured, cheap to observe, read as an immutable :class:`~.state.NativeState`.

Options follow client_golang's ``HistogramOpts`` (``NativeHistogram*``):

- ``bucket_factor`` (1.1): the widest growth from one bucket to the next; it picks the
  schema (1.1 -> 3: each power of two in 8 buckets, a relative error of at most 4.4%).
- ``zero_threshold`` (2^-128): observations with ``|v| <= zero_threshold`` are counted in
  the zero bucket; 0 means exact zeros only.
- ``max_buckets`` (160; 0 = no limit): the populated sparse buckets a histogram may hold.
  client_golang leaves it unlimited by default and recommends setting one (every distinct
  order of magnitude observed costs buckets); 160 at schema 3 spans 20 powers of two, e.g.
  1 us to 1 s. When a new bucket takes the count past it, the same strategy as client_golang
  runs, in this order:
    1. if ``min_reset_seconds`` > 0 and that long has passed since the histogram was created
       or last reset, the whole histogram (classic buckets too) is reset and the triggering
       observation recorded again;
    2. else, if ``max_zero_threshold`` allows, the zero bucket is widened to swallow the
       bucket nearest zero;
    3. else the resolution is halved (schema - 1, down to -4), neighbouring buckets merged.
  With the defaults (no reset, no zero widening) that is step 3 alone: what client_golang
  does when only ``NativeHistogramMaxBucketNumber`` is set. A widened zero bucket or a
  reduced schema is undone by a reset once ``min_reset_seconds`` have passed: client_golang
  arms a timer; here the reset happens when :meth:`NativeHistogram.snapshot` is next taken
  after that time (a scrape), *after* the snapshot, so no observation goes unreported.

Thread-safe (one lock per histogram, as prometheus-client takes one per value);
:meth:`observe` costs a lock, a binary search in at most 4096 bounds (:func:`.key_table`)
and a dict update, all in C (a second binary search with classic buckets). An owner that
writes other values with every observation (the kit's operation counter) takes
:attr:`NativeHistogram.lock` once for all of them and calls
:meth:`NativeHistogram.observe_locked` inside.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.samples import Exemplar

from .schema import (
    DEFAULT_ZERO_THRESHOLD,
    SCHEMA_MIN,
    bucket_key,
    key_table,
    pick_schema,
    reduce_key,
    upper_bound,
)
from .state import NativeState

_INF = math.inf


@dataclass(frozen=True, slots=True)
class NativeOptions:
    """How a native histogram is shaped; see the module docstring for each knob."""

    bucket_factor: float = 1.1
    zero_threshold: float = DEFAULT_ZERO_THRESHOLD
    max_buckets: int = 160
    min_reset_seconds: float = 0.0
    max_zero_threshold: float = 0.0

    def __post_init__(self) -> None:
        pick_schema(self.bucket_factor)  # raises for a factor <= 1
        if not 0 <= self.zero_threshold < _INF:
            raise ValueError(f"zero_threshold: must be >= 0, got {self.zero_threshold!r}")
        if self.max_buckets < 0:
            raise ValueError(f"max_buckets: must be >= 0, got {self.max_buckets!r}")
        if not 0 <= self.min_reset_seconds < _INF:
            raise ValueError(f"min_reset_seconds: must be >= 0, got {self.min_reset_seconds!r}")
        if not 0 <= self.max_zero_threshold < _INF:
            raise ValueError(f"max_zero_threshold: must be >= 0, got {self.max_zero_threshold!r}")

    @property
    def schema(self) -> int:
        return pick_schema(self.bucket_factor)


def classic_bounds(buckets: Sequence[float]) -> tuple[float, ...]:
    """Classic upper bounds, ascending, without a trailing +Inf (it is implicit)."""
    bounds = tuple(float(b) for b in buckets)
    if bounds and bounds[-1] == _INF:
        bounds = bounds[:-1]
    if any(not a < b for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"buckets: must be strictly ascending, got {buckets!r}")
    return bounds


class NativeHistogram:
    """A native histogram series; ``buckets``: classic upper bounds to keep beside it (empty:
    native only); ``clock``: epoch seconds, for resets and exemplar timestamps."""

    def __init__(
        self,
        options: NativeOptions | None = None,
        buckets: Sequence[float] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._options = options or NativeOptions()
        self._classic_bounds = classic_bounds(buckets)
        self._upper = (*self._classic_bounds, _INF)  # classic slots, +Inf last
        self._clock = clock
        # Guards every field below: held by observe() and snapshot(), or by an owner around
        # observe_locked() (a second lock per record costs as much as the whole bucket math).
        self.lock = threading.Lock()
        self._exemplars: list[Exemplar | None] = [None] * len(self._upper)
        self._reset(clock())

    def _reset(self, now: float) -> None:
        self._zero_threshold = self._options.zero_threshold
        self._set_schema(self._options.schema)  # (after the threshold: reads it)
        # No count of its own: every observation is in exactly one of the zero bucket, a
        # sparse bucket or _nan, so their total is the count (one update less an observe).
        self._nan = 0
        self._sum = 0.0
        self._zero_count = 0
        self._positive: dict[int, int] = {}
        self._negative: dict[int, int] = {}
        self._classic = [0] * len(self._upper)  # counted only when there are classic bounds
        self._created = now
        self._reset_due = _INF  # when a widened zero bucket or halved schema is undone

    def _set_schema(self, schema: int) -> None:
        self._schema = schema
        # observe_locked() finds the keys of the table's range itself, at schemas >= 0;
        # lower schemas, reached only by halving, take the general path.
        self._first, self._bounds = key_table(schema) if schema >= 0 else (0, ())
        self._set_fast_range()

    def _set_fast_range(self) -> None:
        # The values observe_locked() counts itself: above the zero bucket and within the
        # table (one chained comparison for both); none without a table.
        if self._bounds:
            self._fast_low = max(self._bounds[0], self._zero_threshold)
            self._fast_high = self._bounds[-1]
        else:
            self._fast_low, self._fast_high = _INF, -_INF

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        """Count ``value`` (NaN: in count and sum only, as client_golang does); ``exemplar``:
        labels of the trace it belongs to, kept as its classic bucket's newest exemplar."""
        # acquire/release around try/finally: the same guarantee as ``with``, half its cost.
        self.lock.acquire()
        try:
            self.observe_locked(value, exemplar)
        finally:
            self.lock.release()

    def observe_locked(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        """:meth:`observe` for a caller that already holds :attr:`lock`."""
        self._sum += value
        if self._fast_low < value <= self._fast_high:
            if self._classic_bounds:  # (native only: no classic counts to keep)
                self._classic[bisect_left(self._upper, value)] += 1
            key = self._first + bisect_left(self._bounds, value)
            try:
                self._positive[key] += 1
            except KeyError:
                self._new_bucket(self._positive, key, value)
        else:
            self._observe_other(value)
        if exemplar:  # (None, or a falsy "no trace" a caller read: no exemplar)
            self._keep_exemplar(value, exemplar)

    def _observe_other(self, value: float) -> None:
        """The general path: zero, negative, infinite and NaN values, values outside the
        table, schemas below 0; any other value too (lock held)."""
        if self._classic_bounds:  # NaN: in no bucket but the classic +Inf one (the count's)
            self._classic[-1 if value != value else bisect_left(self._upper, value)] += 1
        if value != value:
            self._nan += 1
            return
        threshold = self._zero_threshold
        if -threshold <= value <= threshold:
            self._zero_count += 1
            return
        buckets = self._positive if value > 0 else self._negative
        key = bucket_key(value, self._schema)
        if key in buckets:
            buckets[key] += 1
        else:
            self._new_bucket(buckets, key, value)

    def _keep_exemplar(self, value: float, labels: Mapping[str, str]) -> None:
        slot = len(self._upper) - 1 if value != value else bisect_left(self._upper, value)
        self._exemplars[slot] = Exemplar(dict(labels), value, self._clock())

    def _new_bucket(self, buckets: dict[int, int], key: int, value: float) -> None:
        buckets[key] = 1
        limit = self._options.max_buckets
        if limit and len(self._positive) + len(self._negative) > limit:
            self._limit(value)

    def _limit(self, value: float) -> None:
        """client_golang's ``limitBuckets``: reset, else widen the zero bucket, else halve."""
        options, now = self._options, self._clock()
        if options.min_reset_seconds and now - self._created >= options.min_reset_seconds:
            self._reset(now)
            self._observe_again(value)
            return
        if options.min_reset_seconds and self._reset_due == _INF:
            self._reset_due = self._created + options.min_reset_seconds
        if not self._widen_zero_bucket():
            self._halve()

    def _observe_again(self, value: float) -> None:
        self._sum += value
        self._observe_other(value)  # (the general path takes any value)

    def _widen_zero_bucket(self) -> bool:
        maximum = self._options.max_zero_threshold
        if self._zero_threshold >= maximum:
            return False
        keys = [*self._positive, *self._negative]
        if not keys:
            return False
        smallest = min(keys)
        threshold = upper_bound(smallest, self._schema)
        if threshold > maximum:
            return False
        self._zero_threshold = threshold
        self._set_fast_range()
        self._zero_count += self._positive.pop(smallest, 0) + self._negative.pop(smallest, 0)
        return True

    def _halve(self) -> None:
        if self._schema == SCHEMA_MIN:
            return
        self._set_schema(self._schema - 1)
        for buckets in (self._positive, self._negative):
            merged: dict[int, int] = {}
            for key, count in buckets.items():
                target = reduce_key(key, 1)
                merged[target] = merged.get(target, 0) + count
            buckets.clear()
            buckets.update(merged)

    def snapshot(self) -> NativeState:
        """The state now; resets afterwards if a reduction is due to be undone."""
        with self.lock:
            positive, negative = dict(self._positive), dict(self._negative)
            count = self._zero_count + self._nan + sum(positive.values()) + sum(negative.values())
            state = NativeState(
                schema=self._schema,
                zero_threshold=self._zero_threshold,
                count=count,
                sum=self._sum,
                zero_count=self._zero_count,
                positive=positive,
                negative=negative,
                classic_bounds=self._classic_bounds,
                classic_counts=tuple(self._classic) if self._classic_bounds else (),
                exemplars=tuple(self._exemplars),
                created=self._created,
            )
            if self._reset_due != _INF and self._clock() >= self._reset_due:
                self._reset(self._clock())
            return state
