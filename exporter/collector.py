"""MetricsCollector: times named operations into prometheus-client metrics.

Hot path (``record_operation``): one dict lookup, the operation's pre-bound counter and
histogram children, and a per-operation lock around min/max/last. Everything else (JSON
views, sliding windows) is derived on read from the prometheus-client metrics themselves,
so the two views can never disagree.

Sliding windows work the way PromQL's ``rate()`` does: every ``window_resolution`` seconds
the cumulative counts and bucket counts are copied into a ring, and a window is the
difference between now and the ring entry that old. Snapshots are taken on the way through
``record_operation`` or a read, whichever comes first after the resolution has passed:
no background thread, and an idle collector costs nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .names import OVERFLOW, check_name, metric_name
from .stats import OperationStats, WindowStats, bucket_quantile, percent
from .timer import OperationTimer, Timing

# 100 us .. 10 s: covers a cache hit through a slow webhook round trip.
DEFAULT_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
WINDOWS = (60.0, 300.0)


@dataclass(frozen=True, slots=True)
class _Cumulative:
    """One operation's monotonic totals at an instant (what the window ring stores)."""

    count: int
    errors: int
    total_seconds: float
    buckets: tuple[int, ...]  # cumulative, last entry is +Inf

    def minus(self, old: _Cumulative | None) -> _Cumulative:
        if old is None:
            return self
        return _Cumulative(
            self.count - old.count,
            self.errors - old.errors,
            self.total_seconds - old.total_seconds,
            tuple(a - b for a, b in zip(self.buckets, old.buckets, strict=True)),
        )


class _Slot:
    """One operation's bound prometheus children plus the figures Prometheus doesn't keep."""

    __slots__ = ("count", "fail", "last", "lock", "max", "min", "observe")

    def __init__(self, total, errors, duration) -> None:
        # Bound methods of the children: the hot path skips two attribute lookups each.
        self.count = total.inc
        self.fail = errors.inc
        self.observe = duration.observe
        self.lock = threading.Lock()
        self.min = math.inf
        self.max = -math.inf
        self.last: float | None = None


class MetricsCollector:
    """Thread-safe, asyncio-safe collector of per-operation counts and latencies."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "",
        operations: Iterable[str] = (),
        max_operations: int = 256,
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
        window_resolution: float = 5.0,
        clock: Callable[[], float] = time.time,
        version: str | None = None,
        process_metrics: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.namespace = namespace
        self.buckets = tuple(float(b) for b in buckets)
        self.max_operations = max_operations
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}

        labels = ("operation",)
        self._total = Counter(
            "operations",
            "Operations performed.",
            labels,
            namespace=namespace,
            registry=self.registry,
        )
        self._errors = Counter(
            "operation_errors",
            "Operations that failed.",
            labels,
            namespace=namespace,
            registry=self.registry,
        )
        self._duration = Histogram(
            "operation_duration_seconds",
            "Time an operation took, failed or not.",
            labels,
            namespace=namespace,
            registry=self.registry,
            buckets=self.buckets,
        )
        self._overflow = Counter(
            "operations_overflow",
            f"Records of uncatalogued operations beyond the cap of {max_operations},"
            f" counted under operation={OVERFLOW!r}.",
            namespace=namespace,
            registry=self.registry,
        )
        build = Info(
            "build", "Build of the running exporter.", namespace=namespace, registry=self.registry
        )
        self.version = version or "unknown"
        build.info({"version": self.version})
        for name in (*operations, OVERFLOW):
            self._bind(check_name(name))
        self.registry.register(_LastRecorded(self))
        if process_metrics:  # process_*, python_info, python_gc_*: the runtime's own series
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

        self.started_at = clock()
        self._resolution = window_resolution
        # Enough entries to reach back over the longest window, plus the one before it.
        self._ring: deque[tuple[float, dict[str, _Cumulative]]] = deque(
            maxlen=math.ceil(max(WINDOWS) / window_resolution) + 2
        )
        self._baseline: dict[str, _Cumulative] = {}
        self._next_tick = self._record_tick = -math.inf
        self._tick(self.started_at)

    # -- recording (the hot path) ---------------------------------------------------------

    def record_operation(
        self, name: str, duration_seconds: float, error: BaseException | bool | None = None
    ) -> None:
        """Record one finished operation. ``error`` None (or False) means success."""
        slot = self._slots.get(name) or self._slot_for_new(name)
        if not 0.0 <= duration_seconds < math.inf:  # also rejects NaN
            raise ValueError(f"duration must be finite and >= 0 seconds, got {duration_seconds!r}")
        now = self._clock()
        # Reads (the health sampler's every 5 s) take the snapshots; a record takes one only
        # when no read has for a whole extra step, so a request rarely pays for it.
        if now >= self._record_tick:
            self._tick(now)  # before this record: a snapshot is the state up to its time
        slot.count()
        if error is not None and error is not False:
            slot.fail()
        slot.observe(duration_seconds)
        slot.last = now
        # Lock only when the range widens, which soon becomes rare; re-check under the lock.
        if duration_seconds < slot.min or duration_seconds > slot.max:
            with slot.lock:
                if duration_seconds < slot.min:
                    slot.min = duration_seconds
                if duration_seconds > slot.max:
                    slot.max = duration_seconds

    def time(
        self, name: str, expected: type[BaseException] | tuple[type[BaseException], ...] = ()
    ) -> Timing:
        """Time a block (``with``) or every call of a function (decorator, sync or async).

        A raised exception counts as an error, except those of the ``expected`` types."""
        return Timing(self, self._check(name), expected)

    def timer(self, name: str) -> OperationTimer:
        """Start timing now; call ``.end(err)`` or ``.end_ok()`` when the operation ends."""
        return OperationTimer(self, name)

    def _check(self, name: str) -> str:
        return name if name in self._slots else check_name(name)

    def _slot_for_new(self, name: str) -> _Slot:
        check_name(name)
        with self._lock:
            slot = self._slots.get(name)
            if slot is not None:
                return slot
            if len(self._slots) < self.max_operations + 1:  # +1: "other" is always bound
                return self._bind(name)
        self._overflow.inc()
        return self._slots[OVERFLOW]

    def _bind(self, name: str) -> _Slot:
        slot = self._slots.get(name)
        if slot is None:
            slot = _Slot(
                self._total.labels(name), self._errors.labels(name), self._duration.labels(name)
            )
            self._slots[name] = slot
        return slot

    # -- reading ---------------------------------------------------------------------------

    def operations(self) -> list[str]:
        """Names of the operations recorded at least once since start or reset."""
        return [name for name, stats in self.snapshot().items() if stats.count]

    def snapshot(self) -> dict[str, OperationStats]:
        """Every bound operation's record since start or the last reset."""
        return self.view()[0]

    def get(self, name: str) -> OperationStats | None:
        """One operation's record, or None if it has never been bound."""
        return self.snapshot().get(name) if name in self._slots else None

    def windows(self, seconds: float) -> dict[str, WindowStats]:
        """Every operation's figures over (about) the last ``seconds``, to the resolution."""
        return self.view(seconds)[1][seconds]

    def view(
        self, *windows: float
    ) -> tuple[dict[str, OperationStats], dict[float, dict[str, WindowStats]]]:
        """Records and the given windows from a single read of the metrics (reading them
        back is the costly part, so the JSON views ask for everything at once)."""
        current = self._cumulative()
        self._maybe_tick(current)
        now = self._clock()
        by_window = {}
        for seconds in windows:
            then = self._state_at(now - seconds, current)
            by_window[seconds] = {
                name: self._window(seconds, cum.minus(then.get(name)))
                for name, cum in current.items()
            }
        # A name being bound right now may show in the metrics before its slot exists.
        stats = {
            name: self._stats(name, cum) for name, cum in current.items() if name in self._slots
        }
        return stats, by_window

    def _stats(self, name: str, cum: _Cumulative) -> OperationStats:
        slot = self._slots[name]
        cum = cum.minus(self._baseline.get(name))
        with slot.lock:
            lo, hi, last = slot.min, slot.max, slot.last
        return OperationStats(
            name=name,
            count=cum.count,
            errors=cum.errors,
            total_seconds=cum.total_seconds,
            min_seconds=lo if cum.count and lo != math.inf else None,
            max_seconds=hi if cum.count and hi != -math.inf else None,
            last_recorded=last,
        )

    def window_total(
        self, seconds: float, include: Callable[[str], bool] | None = None
    ) -> WindowStats:
        """Operations together (all, or those ``include`` accepts) over the last ``seconds``."""
        parts = [w for name, w in self.windows(seconds).items() if include is None or include(name)]
        count = sum(w.count for w in parts)
        errors = sum(w.errors for w in parts)
        total = sum(w.total_seconds for w in parts)
        return WindowStats(seconds, count, errors, total, None, None, None)

    def reset(self) -> None:
        """Start a new baseline for the JSON view; Prometheus counters stay monotonic."""
        with self._lock:
            # Clear min/max before reading the baseline: a record in between then counts in
            # the old baseline and at worst widens the new range, never leaves it empty.
            for slot in self._slots.values():
                with slot.lock:
                    slot.min, slot.max = math.inf, -math.inf
        current = self._cumulative()
        with self._lock:
            self._baseline = current
            self._ring.clear()
            self._ring.append((self._clock(), current))
            self._set_next_tick(self._clock())

    @property
    def uptime_seconds(self) -> float:
        return max(0.0, self._clock() - self.started_at)

    def error_rate(self, stats: Iterable[OperationStats]) -> float:
        items = list(stats)
        return percent(sum(s.errors for s in items), sum(s.count for s in items))

    # -- windows ---------------------------------------------------------------------------

    def _window(self, seconds: float, cum: _Cumulative) -> WindowStats:
        q = [bucket_quantile(p, self.buckets, cum.buckets) for p in (0.5, 0.95, 0.99)]
        return WindowStats(seconds, cum.count, cum.errors, cum.total_seconds, *q)

    def _state_at(self, at: float, current: dict[str, _Cumulative]) -> dict[str, _Cumulative]:
        """The totals as they stood at time ``at``.

        A snapshot is taken just before the first record after each resolution step, so it
        also stands for every moment since the record before it: the first snapshot at or
        after ``at`` is the state at ``at`` (to within one resolution step). None after
        ``at`` means nothing has happened since.
        """
        with self._lock:
            for taken, snap in self._ring:
                if taken >= at:
                    return snap
        return current

    def _maybe_tick(self, current: dict[str, _Cumulative]) -> None:
        now = self._clock()
        if now >= self._next_tick:
            self._tick(now, current)

    def _tick(self, now: float, current: dict[str, _Cumulative] | None = None) -> None:
        with self._lock:
            if now < self._next_tick:
                return  # another thread got here first
            self._set_next_tick(now)
        snap = current if current is not None else self._cumulative()
        with self._lock:
            self._ring.append((now, snap))

    def _set_next_tick(self, now: float) -> None:
        self._next_tick = now + self._resolution  # for reads
        self._record_tick = now + 2 * self._resolution  # for records: reads usually come first

    def _cumulative(self) -> dict[str, _Cumulative]:
        """Read every operation's totals back from the prometheus-client metrics."""
        counts: dict[str, float] = {}
        errors: dict[str, float] = {}
        sums: dict[str, float] = {}
        buckets: dict[str, list[int]] = {}
        for sample in _samples(self._total):
            if sample.name.endswith("_total"):
                counts[sample.labels["operation"]] = sample.value
        for sample in _samples(self._errors):
            if sample.name.endswith("_total"):
                errors[sample.labels["operation"]] = sample.value
        for sample in _samples(self._duration):
            op = sample.labels["operation"]
            if sample.name.endswith("_bucket"):
                buckets.setdefault(op, []).append(int(sample.value))
            elif sample.name.endswith("_sum"):
                sums[op] = sample.value
        return {
            op: _Cumulative(
                int(counts.get(op, 0)), int(errors.get(op, 0)), sums.get(op, 0.0), tuple(b)
            )
            for op, b in buckets.items()
        }

    def _last_recorded(self) -> Iterator[tuple[str, float]]:
        for name, slot in list(self._slots.items()):
            if slot.last is not None:
                yield name, slot.last


def _samples(metric) -> Iterator:
    for family in metric.collect():
        yield from family.samples


class _LastRecorded(Collector):
    """``*_operation_last_recorded_timestamp_seconds``, read at scrape time: free per record."""

    def __init__(self, collector: MetricsCollector) -> None:
        self._collector = collector

    def describe(self):
        yield self._family()

    def collect(self):
        family = self._family()
        for name, last in self._collector._last_recorded():
            family.add_metric([name], last)
        yield family

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            metric_name(self._collector.namespace, "operation_last_recorded_timestamp_seconds"),
            "Unix time an operation was last recorded.",
            labels=["operation"],
        )
