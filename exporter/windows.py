"""Sliding windows and history over cumulative totals, the way PromQL's ``rate()`` works.

Every ``resolution`` seconds the cumulative counts and bucket counts are copied into a ring,
and a window is the difference between now and the ring entry that old: recording costs
nothing extra. Reads take the snapshots (the health sampler reads every few seconds); a
record takes one only when no read has for two steps (``record_tick``).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import deque
from collections.abc import Callable

from .native.quantile import native_quantile
from .stats import Cumulative, HistoryPoint, bucket_quantile, total_of

Totals = dict[str, Cumulative]


class Windows:
    """The ring of snapshots behind the windows, and the coarser ring behind ``history``.

    ``read`` returns the current totals; ``clock`` the time. With ``records_tick`` False
    (several workers: records never read the whole server) only reads take snapshots.
    """

    def __init__(
        self,
        read: Callable[[], Totals],
        clock: Callable[[], float],
        *,
        resolution: float,
        longest: float,
        history_step: float,
        history_seconds: float,
        records_tick: bool,
    ) -> None:
        self._read = read
        self._clock = clock
        self._resolution = resolution
        self._records_tick = records_tick
        self._lock = threading.Lock()
        # Enough entries to reach back over the longest window, plus the one before it.
        self._ring: deque[tuple[float, Totals]] = deque(maxlen=math.ceil(longest / resolution) + 2)
        self._history_step = history_step
        self._history: deque[tuple[float, Cumulative]] = deque(
            maxlen=math.ceil(history_seconds / history_step) + 1
        )
        # history() as of its newest entry: the points change once a step, reads are often.
        self._points: tuple[tuple[int, float], list[HistoryPoint]] = ((0, 0.0), [])
        self._next_tick = -math.inf
        # When a record must take the snapshot itself (read on the hot path, so a plain float).
        self.record_tick = -math.inf if records_tick else math.inf

    def due(self) -> bool:
        return self._clock() >= self._next_tick

    def tick_if_due(self, current: Totals | None = None) -> None:
        """Take a snapshot if one is due, of ``current`` or of a fresh read."""
        if self.due():
            self.tick(self._clock(), current)

    def tick(self, now: float, current: Totals | None = None) -> None:
        with self._lock:
            if now < self._next_tick:
                return  # another thread got here first
            self._schedule(now)
        snap = current if current is not None else self._read()
        with self._lock:
            self._ring.append((now, snap))
            if not self._history or now - self._history[-1][0] >= self._history_step:
                self._history.append((now, total_of(snap.values())))

    def state_at(self, at: float, current: Totals) -> Totals:
        """The totals as they stood at time ``at``.

        A snapshot is taken before the first record after each resolution step, so it also
        stands for every moment since the record before it: the first snapshot at or after
        ``at`` is the state at ``at`` (to within one resolution step). None after ``at``
        means nothing has happened since.
        """
        with self._lock:
            for taken, snap in self._ring:
                if taken >= at:
                    return snap
        return current

    def restart(self, current: Totals) -> None:
        """Forget the ring (a reset of the view): windows start again from ``current``."""
        with self._lock:
            self._ring.clear()
            self._ring.append((self._clock(), current))
            self._schedule(self._clock())

    def history(self, buckets: tuple[float, ...]) -> list[HistoryPoint]:
        """Every operation together, one point a history step; oldest first."""
        self.tick_if_due()
        with self._lock:
            entries = list(self._history)
        key = (len(entries), entries[-1][0] if entries else 0.0)
        known, points = self._points
        if known == key:
            return list(points)
        points = []
        for (then, old), (now, new) in itertools.pairwise(entries):
            step = new.minus(old) if len(old.buckets) == len(new.buckets) else new
            p95 = None
            if step.native is not None:
                p95 = native_quantile(0.95, step.native)
            elif step.buckets:
                p95 = bucket_quantile(0.95, buckets, step.buckets)
            points.append(HistoryPoint(now, now - then, step.count, step.errors, p95))
        self._points = (key, points)
        return list(points)

    def _schedule(self, now: float) -> None:
        self._next_tick = now + self._resolution  # for reads
        if self._records_tick:  # for records: reads usually come first
            self.record_tick = now + 2 * self._resolution
