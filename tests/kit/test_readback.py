"""Pins ``exporter._readback`` to prometheus-client: what it reads directly equals ``collect()``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

from exporter._readback import custom_collectors, locked_inc, operation_totals


def test_direct_reads_equal_what_collect_reports() -> None:
    registry = CollectorRegistry()
    total = Counter("ops", "x", ["operation"], registry=registry).labels("a")
    errors = Counter("errs", "x", ["operation"], registry=registry).labels("a")
    histogram = Histogram("dur", "x", ["operation"], registry=registry, buckets=(0.01, 0.1, 1.0))
    duration = histogram.labels("a")
    for seconds in (0.005, 0.05, 0.05, 0.5, 5.0):
        total.inc()
        duration.observe(seconds)
    errors.inc(2)
    read = operation_totals(total, errors, duration)
    assert (read.count, read.errors) == (5, 2)
    collected = {
        (s.name, s.labels.get("le")): s.value for f in histogram.collect() for s in f.samples
    }
    assert read.buckets == tuple(
        int(collected[("dur_bucket", le)]) for le in ("0.01", "0.1", "1.0", "+Inf")
    )
    assert read.total_seconds == collected[("dur_sum", None)]


def test_custom_collectors_are_those_multiprocess_mode_does_not_store() -> None:
    registry = CollectorRegistry()
    Counter("c", "x", registry=registry)
    Gauge("g", "x", registry=registry)
    info = Info("i", "x", registry=registry)
    process = ProcessCollector(registry=registry)
    assert set(custom_collectors(registry)) == {info, process}


def test_recording_through_the_values_equals_the_childrens_own_methods() -> None:
    import bisect

    from exporter._readback import value_incs

    bounds = (0.001, 0.01, 0.1)
    own, direct = CollectorRegistry(), CollectorRegistry()
    children = []
    for registry in (own, direct):
        total = Counter("ops", "x", ["operation"], registry=registry).labels("a")
        errors = Counter("errs", "x", ["operation"], registry=registry).labels("a")
        duration = Histogram("dur", "x", ["operation"], registry=registry, buckets=bounds)
        children.append((total, errors, duration.labels("a")))
    count, fail, add, buckets, upper = value_incs(*children[1])
    for seconds in (0.0, 0.001, 0.0011, 0.05, 0.1, 7.0):  # on a bound, between, beyond
        total, errors, duration = children[0]
        total.inc()
        errors.inc()
        duration.observe(seconds)
        count(1)
        fail(1)
        add(seconds)
        buckets[bisect.bisect_left(upper, seconds)](1)

    def values(registry: CollectorRegistry) -> dict:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in registry.collect()
            for s in f.samples
            if not s.name.endswith("_created")
        }

    assert values(own) == values(direct)


def test_writing_the_plain_values_equals_the_childrens_own_methods() -> None:
    import bisect

    from exporter._readback import plain_values

    bounds = (0.001, 0.01, 0.1)
    own, direct = CollectorRegistry(), CollectorRegistry()
    children = []
    for registry in (own, direct):
        total = Counter("ops", "x", ["operation"], registry=registry).labels("a")
        duration = Histogram("dur", "x", ["operation"], registry=registry, buckets=bounds)
        children.append((total, duration.labels("a")))
    found = plain_values(*children[1])
    assert found is not None and len(found) == 2 + len(bounds) + 1  # count, sum, buckets
    count, seconds, *buckets = found
    for amount in (0.0, 0.001, 0.0011, 0.05, 0.1, 7.0):
        children[0][0].inc()
        children[0][1].observe(amount)
        count._value += 1
        seconds._value += amount
        buckets[bisect.bisect_left(children[1][1]._upper_bounds, amount)]._value += 1
    collected = [
        {(s.name, s.value) for f in r.collect() for s in f.samples if "_created" not in s.name}
        for r in (own, direct)
    ]
    assert collected[0] == collected[1]


def test_a_values_own_lock_is_the_one_its_inc_takes() -> None:
    # exemplar_observer writes a child's values under each one's _lock beside other writers
    import threading

    from exporter._readback import plain_values

    child = Histogram("dur", "x", registry=CollectorRegistry(), buckets=(1.0,))
    found = plain_values(child)
    assert found is not None
    value = found[0]

    class Spy:
        def __init__(self, lock: threading.Lock) -> None:
            self.lock, self.entered = lock, 0

        def __enter__(self) -> None:
            self.entered += 1
            self.lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self.lock.release()

    value._lock = spy = Spy(value._lock)
    value.inc(2.5)
    assert (spy.entered, value._value) == (1, 2.5)


def test_a_locked_inc_writes_the_gauge_under_the_callers_lock() -> None:
    import threading

    gauge = Gauge("in_flight", "x", registry=CollectorRegistry())
    lock = threading.Lock()
    inc = locked_inc(gauge, lock)
    inc(1)
    inc(1)
    inc(-1)
    assert gauge._value.get() == 1
    lock.acquire()  # a writer holding the lock: the increment waits for it
    writer = threading.Thread(target=inc, args=(5,))
    writer.start()
    writer.join(0.2)
    assert writer.is_alive() and gauge._value.get() == 1
    lock.release()
    writer.join()
    assert gauge._value.get() == 6
