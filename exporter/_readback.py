"""Reaching a prometheus-client child's values directly: to read them without ``collect()``,
and to record into them without the checks a child repeats on every call.

``collect()`` builds a Metric and a Sample per value: 12-19x the cost of reading the values
themselves, and the JSON views read every operation several times a second under load.
This module is the one place that knows where prometheus-client 0.26 keeps a child's
values (``_value``, ``_buckets``, ``_sum``) and a registry's collectors; tests/kit/test_readback.py
pins it to what ``collect()`` reports, so an upgrade that moves them fails there.

Writing a one-process value directly (``plain_values``): ``MutexValue.inc`` is a Python
call that takes the value's own lock, about 2,900 instructions for one ``+=``. An owner
that is the only writer of a group of values (an operation's count, sum and buckets; one
request's series) takes one lock of its own around ``value._value += x`` for the group:
writers are still serialized, a reader's ``get()`` still sees a whole float (reading an
attribute is atomic), and the group costs about a third. A writer that may not be the only
one (``exemplars.exemplar_observer``: its child's own ``observe`` may be called too) takes
each value's own lock, ``value._lock``, the one ``inc`` takes. Multiprocess values
(mmap-backed) must go through ``inc``, which writes the file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import Enum, Info
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.values import MutexValue

from .native.collector import NativeHistogramCollector
from .stats import Cumulative


def value_incs(total: Any, errors: Any, duration: Any) -> tuple[Any, ...]:
    """The increment methods behind an operation's three children: total, errors, the
    histogram's sum and each of its buckets, with the buckets' upper bounds (+Inf last).

    ``inc(1)`` on these is what ``Counter.inc()`` and ``Histogram.observe()`` end in, minus
    their per-call checks and ``observe``'s linear scan of the bounds (a bisect instead):
    half the cost, in one process or under multiprocess mode (the values are mmap-backed
    there). A bucket is the first whose bound is >= the value, as ``observe`` picks it.
    """
    buckets = tuple(bucket.inc for bucket in duration._buckets)
    return total._value.inc, errors._value.inc, duration._sum.inc, buckets, duration._upper_bounds


def histogram_incs(child: Any) -> tuple[Any, tuple[Any, ...], Any]:
    """A Histogram child's sum ``inc``, its buckets' ``inc`` and their upper bounds (+Inf
    last): what ``observe()`` ends in, the bucket found by a bisect instead of its scan."""
    return child._sum.inc, tuple(b.inc for b in child._buckets), child._upper_bounds


def plain_values(*children: Any) -> tuple[Any, ...] | None:
    """The ``MutexValue`` objects behind one-process children (a Counter or Gauge child's
    value; a Histogram child's sum, then its buckets), to write under the caller's own lock
    (see above); None when any of them is kept elsewhere (multiprocess mode)."""
    found: list[Any] = []
    for child in children:
        if hasattr(child, "_buckets"):
            found += (child._sum, *child._buckets)
        else:
            found.append(child._value)
    return tuple(found) if all(type(v) is MutexValue for v in found) else None


def locked_inc(child: Any, lock: Any) -> Callable[[float], None]:
    """``value_inc(child)``, or, for a one-process child, its value written under ``lock``
    (the caller's one lock for the values it alone writes; see above)."""
    value = child._value
    if type(value) is not MutexValue:
        return value.inc  # type: ignore[no-any-return]
    acquire, release = lock.acquire, lock.release

    def inc(amount: float) -> None:
        acquire()
        try:
            value._value += amount
        finally:
            release()

    return inc


def value_inc(child: Any) -> Any:
    """The increment method behind a Counter or Gauge child (``inc(-1)`` decrements a
    gauge): what ``child.inc()`` ends in, without its per-call checks."""
    return child._value.inc


def exemplar_buckets(duration: Any) -> tuple[Any, ...] | None:
    """The histogram child's bucket values, to set an exemplar on (``value._exemplar``, as
    ``Histogram.observe(amount, exemplar)`` does without its per-call label checks), or
    None where they keep none: prometheus-client's multiprocess mode stores no exemplars."""
    buckets = tuple(duration._buckets)
    return buckets if all(type(b) is MutexValue for b in buckets) else None


def counter_value(child: Any) -> float:
    """The value of a Counter (or Gauge) child."""
    return float(child._value.get())


def histogram_totals(child: Any) -> tuple[tuple[int, ...], float]:
    """A Histogram child's cumulative bucket counts (the last one is +Inf) and its sum."""
    running = 0
    cumulative = []
    for bucket in child._buckets:
        running += int(bucket.get())
        cumulative.append(running)
    return tuple(cumulative), float(child._sum.get())


def histogram_sum(child: Any) -> float:
    """A Histogram child's sum alone (no bucket read)."""
    return float(child._sum.get())


def operation_totals(total: Any, errors: Any, duration: Any) -> Cumulative:
    """One operation's totals from its three children."""
    buckets, seconds = histogram_totals(duration)
    return Cumulative(int(counter_value(total)), int(counter_value(errors)), seconds, buckets)


def custom_collectors(registry: CollectorRegistry) -> list[Collector]:
    """The collectors of ``registry`` whose values prometheus-client's multiprocess mode does
    not store in its files: everything but its Counter, Gauge, Histogram and Summary.
    Native histograms are not among them: they travel on their own (``multiprocess``)."""
    return [
        c
        for c in list(registry._collector_to_names)
        if not isinstance(c, MetricWrapperBase | NativeHistogramCollector)
        or isinstance(c, Info | Enum)
    ]


def native_collectors(registry: CollectorRegistry) -> list[NativeHistogramCollector]:
    """The native histogram collectors of ``registry``."""
    found = list(registry._collector_to_names)
    return [c for c in found if isinstance(c, NativeHistogramCollector)]
