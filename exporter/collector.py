"""MetricsCollector: times named operations into prometheus-client metrics.

Hot path (``record_operation``): one dict lookup, the operation's pre-bound counter and
histogram children (one process: their values, written under the operation's one lock), and
that lock again only when min/max widen. The JSON views
are derived on read from the prometheus-client metrics themselves (read directly, see
``_readback``), so the two views can never disagree. Windows and history come from
snapshots of those totals (``windows``); a reset of the view is a baseline (``baseline``).

Under prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) every read is of
the whole server: the operation totals come from every process's mmap files, the extremes and
custom collectors from what each process publishes (see ``multiprocess``).
"""

from __future__ import annotations

import bisect
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    Metric,
    PlatformCollector,
    ProcessCollector,
    values,
)
from prometheus_client.core import Exemplar, GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from . import multiprocess as mp
from ._histogram_option import check_histogram
from ._names import OVERFLOW, check_name, metric_name
from ._readback import (
    counter_value,
    custom_collectors,
    exemplar_buckets,
    histogram_sum,
    native_collectors,
    operation_totals,
    plain_values,
    value_inc,
    value_incs,
)
from ._shared_native import KeptExemplars, merge_native, native_document, own_native
from .baseline import SharedBaseline
from .exemplars import current_exemplar, read_otel_context, read_trace
from .native.collector import NativeHistogramCollector
from .native.histogram import NativeHistogram, NativeOptions
from .native.quantile import native_quantile
from .stats import (
    Cumulative,
    Extremes,
    HistoryPoint,
    OperationStats,
    WindowStats,
    bucket_quantile,
    percent,
)
from .timer import OperationTimer, Timing
from .windows import Windows

# 100 us .. 10 s: covers a cache hit through a slow webhook round trip.
DEFAULT_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
WINDOWS = (60.0, 300.0)
HISTORY_SECONDS = 1800.0  # what history() reaches back over: the status page's sparklines
_INF = math.inf
_bucket = bisect.bisect_left  # the first bound >= the value, as Histogram.observe picks it
# How the process-level series of several workers add up (the rest: counters and gauges sum).
PROCESS_RULES = {
    "process_start_time_seconds": "min",
    "process_max_fds": "max",
    "python_info": "max",
}


class _Slot:
    """One operation's bound prometheus children plus the figures Prometheus doesn't keep.

    ``native``: the operation's native histogram (``histogram="native"`` or ``"both"``),
    whose ``observe`` then replaces the classic buckets' increments; ``kept``: the newest
    exemplar per classic bucket where prometheus-client keeps none (multiprocess mode), for
    the publisher to hand to the scraping process."""

    __slots__ = ("add", "bounds", "buckets", "children", "count", "exemplars", "fail", "kept",
                 "last", "lock", "max", "min", "native", "observe", "plain")  # fmt: skip

    def __init__(self, total: Any, errors: Any, duration: Any, kept: KeptExemplars | None) -> None:
        self.children = (total, errors, duration)
        # One process: the values themselves, written under ``lock`` (see _readback)
        self.plain: tuple[Any, ...] | None = None
        self.native: NativeHistogram | None = None
        self.observe: Callable[[float, Any], None] | None = None
        self.kept: list[Exemplar | None] | None = None
        self.exemplars: tuple[Any, ...] | None = None
        self.lock = threading.Lock()
        if isinstance(duration, NativeHistogram):
            self.native, self.observe = duration, duration.observe
            self.count, self.fail = value_inc(total), value_inc(errors)
            self.plain = plain_values(total, errors)  # (total, errors)
            if self.plain is not None:
                # One lock per record, the histogram's own, for the count and errors too;
                # the histogram is then observed with it held.
                self.lock, self.observe = duration.lock, duration.observe_locked
        else:
            # The children's values, reached directly (see readback): half the cost of the
            # children's own inc() and observe(), which stays for records with an exemplar.
            self.count, self.fail, self.add, self.buckets, self.bounds = value_incs(*self.children)
            values = plain_values(*self.children)
            if values is not None:  # (total, errors, sum, buckets)
                self.plain = (values[0], values[1], values[2], values[3:])
            self.exemplars = exemplar_buckets(duration)
            if self.exemplars is None and kept is not None:
                name, labels = (
                    duration._name,
                    dict(zip(duration._labelnames, duration._labelvalues, strict=True)),
                )
                les = [floatToGoString(b) for b in self.bounds]
                self.kept = kept.slots(name + "_bucket", labels, les)
        self.min = math.inf
        self.max = -math.inf
        self.last: float | None = None

    def totals(self) -> Cumulative:
        if self.native is None:
            return operation_totals(*self.children)
        state = self.native.snapshot()
        return Cumulative(
            int(counter_value(self.children[0])),
            int(counter_value(self.children[1])),
            state.sum,
            tuple(state.cumulative_classic()),
            state,
        )

    def counts(self) -> Cumulative:
        """Count, errors and seconds, without the buckets: what sums over operations need."""
        total, errors, duration = self.children
        seconds = self.native.snapshot().sum if self.native is not None else histogram_sum(duration)
        return Cumulative(int(counter_value(total)), int(counter_value(errors)), seconds)

    def extremes(self) -> Extremes:
        with self.lock:
            lo, hi, last = self.min, self.max, self.last
        return Extremes(lo if lo != math.inf else None, hi if hi != -math.inf else None, last)


class MetricsCollector:
    """Thread-safe, asyncio-safe collector of per-operation counts and latencies.

    ``namespace`` prefixes every series (none by default, as in prometheus-client);
    ``operations`` are bound up front, others on first use up to ``max_operations``, after
    which records count under ``operation="other"``. ``multiprocess_dir`` defaults to
    prometheus-client's own ``PROMETHEUS_MULTIPROC_DIR`` when its multiprocess mode is on.
    """

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
        multiprocess_dir: str | None = None,
        publish_interval: float = 1.0,
        history_step: float = 60.0,
        histogram: str = "classic",
        native: NativeOptions | None = None,
    ) -> None:
        if not 0 < window_resolution < math.inf:
            raise ValueError(f"window_resolution: must be > 0 seconds, got {window_resolution!r}")
        self.histogram, self.native_options = check_histogram(histogram, native)
        self.registry = registry if registry is not None else CollectorRegistry()
        self.namespace = namespace
        self.buckets = tuple(float(b) for b in buckets)
        self.max_operations = max_operations
        self.version = version or "unknown"
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}
        self._rules: dict[str, str] = dict(PROCESS_RULES)
        self.multiprocess_dir = self._directory(multiprocess_dir)
        # Several workers: the classic buckets' newest exemplars, published on the beat.
        self.kept_exemplars = KeptExemplars() if self.multiprocess_dir is not None else None
        if self.multiprocess_dir is not None:  # before our first file: who writes them
            mp.mark_alive(self.multiprocess_dir)
        self._create_metrics()
        for name in (*operations, OVERFLOW):
            self._bind(check_name(name))
        self.registry.register(_LastRecorded(self))
        self.aggregate(self._name("operation_last_recorded_timestamp_seconds"), "max")
        if process_metrics:  # process_*, python_info, python_gc_*: the runtime's own series
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

        self.started_at = clock()
        # Uptime is the server's: with several workers, since the first of them started.
        self.server_started_at = self.started_at
        if self.multiprocess_dir is not None:
            self.server_started_at = mp.server_started(self.multiprocess_dir, self.started_at)
        self._baseline: dict[str, Cumulative] = {}
        self._reset_at = -math.inf
        self._setup_sharing(self.multiprocess_dir, publish_interval)
        self._windows = Windows(
            self._cumulative,
            clock,
            resolution=window_resolution,
            longest=max(WINDOWS),
            history_step=history_step,
            history_seconds=HISTORY_SECONDS,
            records_tick=self._files is None,  # several workers: the publisher's beat ticks
        )
        self._windows.tick(self.started_at)
        if self._publisher is not None:
            self._publisher.start()

    def _create_metrics(self) -> None:
        ns, registry, labels = self.namespace, self.registry, ("operation",)
        self._total = Counter("operations", "Operations performed.", labels, namespace=ns,
                              registry=registry)  # fmt: skip
        self._errors = Counter("operation_errors", "Operations that failed.", labels,
                               namespace=ns, registry=registry)  # fmt: skip
        help_text = "Time an operation took, failed or not."
        self._duration: Any
        self._native: NativeHistogramCollector | None = None
        if self.histogram == "classic":
            self._duration = Histogram(
                "operation_duration_seconds", help_text, labels,
                namespace=ns, registry=registry, buckets=self.buckets,
            )  # fmt: skip
        else:
            self._duration = self._native = NativeHistogramCollector(
                self._name("operation_duration_seconds"), help_text, labels,
                options=self.native_options, registry=registry,
                buckets=self.buckets if self.histogram == "both" else (),
            )  # fmt: skip
        self._overflow = Counter(
            "operations_overflow",
            f"Records of uncatalogued operations beyond the cap of {self.max_operations},"
            f" counted under operation={OVERFLOW!r}.",
            namespace=ns,
            registry=registry,
        )
        build = Info("build", "Build of the running service.", namespace=ns, registry=registry)
        build.info({"version": self.version})

    @staticmethod
    def _directory(directory: str | None) -> str | None:
        if directory is None and values.ValueClass._multiprocess:
            directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        return directory

    def _setup_sharing(self, directory: str | None, interval: float) -> None:
        self._files: mp.OperationFiles | None = None
        self._publisher: mp.Publisher | None = None
        self._shared_baseline: SharedBaseline | None = None
        self.exposition_registry: Collector = self.registry
        if directory is None:
            return
        self._files = mp.OperationFiles(
            directory, self._name("operations"), self._name("operation_errors"),
            self._name("operation_duration_seconds"), self.buckets,
        )  # fmt: skip
        last = self._name("operation_last_recorded_timestamp_seconds")
        self._publisher = mp.Publisher(
            directory, self._custom_families, self._own_extremes, interval, self._on_interval,
            kept={last: "max"},  # a dead worker's last record stays the server's last
            extra=self._shared_sections,
        )  # fmt: skip
        self._shared_baseline = SharedBaseline(directory)
        server = CollectorRegistry(auto_describe=False)
        server.register(
            mp.ServerCollector(
                directory, self._custom_families, self._rules,
                natives=lambda: native_collectors(self.registry), kept=self.kept_exemplars,
            )
        )  # fmt: skip
        self.exposition_registry = server

    def _name(self, name: str) -> str:
        return metric_name(self.namespace, name)

    def aggregate(self, family: str, rule: str) -> None:
        """How a custom collector's family adds up across worker processes: ``sum`` (the
        default for counters and gauges), ``min``, ``max``, ``first`` or ``worst``."""
        if rule not in mp.RULES:
            raise ValueError(f"rule: must be one of {', '.join(mp.RULES)}, got {rule!r}")
        self._rules[family] = rule

    def close(self) -> None:
        """Stop publishing (multiprocess mode), after one last publish."""
        if self._publisher is not None:
            self._publisher.publish()
            self._publisher.close()

    # -- recording (the hot path) ---------------------------------------------------------

    def record_operation(
        self, name: str, duration_seconds: float, error: BaseException | bool | None = None
    ) -> None:
        """Record one finished operation. ``error`` None (or False) means success."""
        slot = self._slots.get(name) or self._slot_for_new(name)
        if not 0.0 <= duration_seconds < _INF:  # also rejects NaN
            raise ValueError(f"duration must be finite and >= 0 seconds, got {duration_seconds!r}")
        now = self._clock()
        if now >= self._windows.record_tick:  # no read for two steps: snapshot it ourselves
            self._windows.tick(now)  # before this record: a snapshot is the state up to now
        if slot.observe is not None:  # native buckets (and the classic ones, for "both")
            trace = read_trace() or (read_otel_context() and current_exemplar())
            if slot.plain is not None:  # the slot is these values' only writer
                # The histogram's lock (slot.observe is its observe_locked); acquire/release
                # around try/finally, the same guarantee as ``with`` at half its cost.
                slot.lock.acquire()
                try:
                    slot.plain[0]._value += 1
                    if error:  # an exception, or True
                        slot.plain[1]._value += 1
                    slot.observe(duration_seconds, trace)
                finally:
                    slot.lock.release()
            else:
                slot.count(1)
                if error:
                    slot.fail(1)
                slot.observe(duration_seconds, trace)
        else:
            bucket = _bucket(slot.bounds, duration_seconds)
            if slot.plain is not None:  # the slot is these values' only writer
                total, errors, seconds, buckets = slot.plain
                slot.lock.acquire()  # (acquire/release: as ``with``, at half its cost)
                try:
                    total._value += 1
                    if error:
                        errors._value += 1
                    seconds._value += duration_seconds
                    buckets[bucket]._value += 1
                finally:
                    slot.lock.release()
            else:
                slot.count(1)
                if error:
                    slot.fail(1)
                slot.add(duration_seconds)
                slot.buckets[bucket](1)
            if slot.exemplars is not None:
                # The request's trace, if any: current_exemplar() without its call when there
                # is none (see exemplars.read_trace), a thirtieth of a record.
                trace = read_trace() or (read_otel_context() and current_exemplar())
                if trace:
                    slot.exemplars[bucket]._exemplar = Exemplar(trace, duration_seconds, now)
            elif slot.kept is not None:  # several workers: published on the beat
                trace = read_trace() or (read_otel_context() and current_exemplar())
                if trace:
                    slot.kept[bucket] = Exemplar(trace, duration_seconds, now)
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
        # Built here, not through Timing.of: one call fewer on every timed block.
        if name not in self._slots:
            check_name(name)
        timing = Timing()
        timing.recorder, timing.name, timing.expected = self, name, expected
        timing.started = timing.elapsed = None
        return timing

    def timer(self, name: str) -> OperationTimer:
        """Start timing now; call ``.end(err)`` or ``.end_ok()`` when the operation ends."""
        return OperationTimer(self, name)

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
                self._total.labels(name),
                self._errors.labels(name),
                self._duration.labels(name),
                self.kept_exemplars,
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
        return self.snapshot().get(name)

    def windows(self, seconds: float) -> dict[str, WindowStats]:
        """Every operation's figures over (about) the last ``seconds``, to the resolution."""
        return self.view(seconds)[1][seconds]

    def view(
        self, *windows: float
    ) -> tuple[dict[str, OperationStats], dict[float, dict[str, WindowStats]]]:
        """Records and the given windows from a single read of the metrics (reading them
        back is the costly part, so the JSON views ask for everything at once)."""
        self._follow_reset()
        current = self._cumulative()
        self._windows.tick_if_due(current)
        now = self._clock()
        extremes = self._extremes()
        by_window = {}
        for seconds in windows:
            then = self._windows.state_at(now - seconds, current)
            by_window[seconds] = {
                name: self._window(seconds, cum.minus(then.get(name)), extremes.get(name))
                for name, cum in current.items()
            }
        stats = {
            name: self._stats(name, cum, extremes.get(name, Extremes()))
            for name, cum in current.items()
        }
        return stats, by_window

    def _stats(self, name: str, cum: Cumulative, ext: Extremes) -> OperationStats:
        cum = cum.minus(self._baseline.get(name))
        return OperationStats(
            name=name,
            count=cum.count,
            errors=cum.errors,
            total_seconds=cum.total_seconds,
            min_seconds=ext.min_seconds if cum.count else None,
            max_seconds=ext.max_seconds if cum.count else None,
            last_recorded=ext.last_recorded,
        )

    def window_total(
        self, seconds: float, include: Callable[[str], bool] | None = None
    ) -> WindowStats:
        """Operations together (all, or those ``include`` accepts) over the last ``seconds``:
        counts, errors and seconds only (what the error-rate check judges several times a
        second), so no operation's percentiles or extremes are worked out."""
        self._follow_reset()
        self._windows.tick_if_due()
        current = self._counts()
        then = self._windows.state_at(self._clock() - seconds, current)
        count = errors = 0
        total = 0.0
        for name, cum in current.items():
            if include is not None and not include(name):
                continue
            old = then.get(name)
            count += cum.count - (old.count if old else 0)
            errors += cum.errors - (old.errors if old else 0)
            total += cum.total_seconds - (old.total_seconds if old else 0.0)
        return WindowStats(seconds, count, errors, total, None, None, None)

    def history(self) -> list[HistoryPoint]:
        """Every operation together, one point a ``history_step`` (60 s by default), over the
        last 30 minutes; oldest first. Steps are as long as the snapshots allow (a step may
        be longer when nothing read or recorded for a while)."""
        return self._windows.history(self.buckets)

    def reset(self) -> None:
        """Start a new baseline for the JSON view; Prometheus counters stay monotonic.

        With several workers the baseline is written beside their files, so every worker's
        view starts again (and clears its own min/max within one publish interval)."""
        self._clear_extremes()
        current = self._cumulative()
        self._start_baseline(current, self._clock())
        if self._shared_baseline is not None:
            self._shared_baseline.write(current, self._reset_at)

    @property
    def uptime_seconds(self) -> float:
        return max(0.0, self._clock() - self.server_started_at)

    def error_rate(self, stats: Iterable[OperationStats]) -> float:
        items = list(stats)
        return percent(sum(s.errors for s in items), sum(s.count for s in items))

    # -- sources ---------------------------------------------------------------------------

    def _cumulative(self) -> dict[str, Cumulative]:
        """Every operation's totals: this process's children, or every process's files."""
        if self._files is not None:
            totals = self._files.read()
            return totals if self._native is None else self._with_native(totals)
        return {name: slot.totals() for name, slot in list(self._slots.items())}

    def _counts(self) -> dict[str, Cumulative]:
        """Every operation's count, errors and seconds; in one process without reading its
        buckets (a sixth of the values), as several workers' files hold them all anyway."""
        if self._files is not None:
            return self._cumulative()
        return {name: slot.counts() for name, slot in list(self._slots.items())}

    def _with_native(self, totals: dict[str, Cumulative]) -> dict[str, Cumulative]:
        """The operation totals of the files, with the duration from every process's
        native histograms (published on the beat; this process's fresh)."""
        assert self._native is not None and self.multiprocess_dir is not None
        others = mp.read_published(self.multiprocess_dir, skip_pid=os.getpid())
        merged = merge_native(others, own_native([self._native])).get(self._native.name, {})
        out = {}
        for (op,), state in merged.items():
            cum = totals.get(op, Cumulative())
            classic = tuple(state.cumulative_classic())
            out[op] = Cumulative(cum.count, cum.errors, state.sum, classic, state)
        for op, cum in totals.items():
            out.setdefault(op, cum)
        return out

    def _shared_sections(self) -> dict[str, Any]:
        """What this process publishes beside its families: native histograms, exemplars."""
        sections: dict[str, Any] = {"native": native_document(native_collectors(self.registry))}
        if self.kept_exemplars is not None:
            sections["exemplars"] = self.kept_exemplars.document()
        return sections

    def _own_extremes(self) -> dict[str, Extremes]:
        return {name: slot.extremes() for name, slot in list(self._slots.items())}

    def _extremes(self) -> dict[str, Extremes]:
        own = self._own_extremes()
        if self.multiprocess_dir is None:
            return own
        others = mp.read_published(self.multiprocess_dir, skip_pid=os.getpid())
        current = [d for d in others if not self._before_reset(d)]
        return mp.merge_extremes([*current, mp.extremes_document(own)])

    def _before_reset(self, document: dict[str, Any]) -> bool:
        """Extremes published before the last reset are of the old view (a live worker
        publishes cleared ones within one interval of noticing the reset)."""
        return float(document.get("at", -math.inf)) < self._reset_at

    def _custom_families(self) -> list[Metric]:
        families: list[Metric] = []
        for collector in custom_collectors(self.registry):
            families.extend(collector.collect())
        return families

    def _on_interval(self) -> None:
        """The publisher's beat (multiprocess mode): compact the files of workers gone (no
        supervisor hook needed), follow a reset, take a due snapshot."""
        if self.multiprocess_dir is not None:
            mp.sweep(self.multiprocess_dir)
        self._follow_reset()
        self._windows.tick_if_due()

    # -- windows and baselines ---------------------------------------------------------------

    def _window(self, seconds: float, cum: Cumulative, ext: Extremes | None) -> WindowStats:
        # A window's observations lie within the operation's min and max since the reset
        # (the window is part of that span), so its percentiles may be held within them.
        observed = (ext.min_seconds, ext.max_seconds) if ext is not None else (None, None)
        if cum.native is not None:  # the finer buckets, when there are some
            q = [native_quantile(p, cum.native, observed) for p in (0.5, 0.95, 0.99)]
        else:
            q = [bucket_quantile(p, self.buckets, cum.buckets, observed) for p in (0.5, 0.95, 0.99)]
        return WindowStats(seconds, cum.count, cum.errors, cum.total_seconds, *q)

    def _clear_extremes(self) -> None:
        # Clear min/max before reading the baseline: a record in between then counts in the
        # old baseline and at worst widens the new range, never leaves it empty.
        with self._lock:
            for slot in self._slots.values():
                with slot.lock:
                    slot.min, slot.max = math.inf, -math.inf

    def _start_baseline(self, current: dict[str, Cumulative], at: float) -> None:
        with self._lock:
            self._baseline = current
            self._reset_at = at
        self._windows.restart(current)

    def _follow_reset(self) -> None:
        """Another worker reset the view: take its baseline (multiprocess mode)."""
        if self._shared_baseline is None:
            return
        changed = self._shared_baseline.changed()
        if changed is not None:
            self._clear_extremes()
            self._start_baseline(*changed)

    def _last_recorded(self) -> Iterator[tuple[str, float]]:
        for name, slot in list(self._slots.items()):
            if slot.last is not None:
                yield name, slot.last


class _LastRecorded(Collector):
    """``*_operation_last_recorded_timestamp_seconds``, read at scrape time: free per record."""

    def __init__(self, collector: MetricsCollector) -> None:
        self._collector = collector

    def describe(self) -> Iterable[Metric]:
        yield self._family()

    def collect(self) -> Iterable[Metric]:
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
