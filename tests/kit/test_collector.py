"""MetricsCollector: exact counts under concurrency, arithmetic, windows, cardinality."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter import MetricsCollector, OperationStats, OperationTimer
from exporter.timer import Timing
from tests.kit.catalog import Op

CATALOG = Op.all()  # a real catalog of names to bind up front


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def samples(collector: MetricsCollector) -> dict[tuple[str, tuple], float]:
    text = generate_latest(collector.registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_exact_counts_under_eight_threads():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    per_thread, threads = 10_000, 8

    def work(i: int) -> None:
        for n in range(per_thread):
            collector.record_operation(Op.DB_QUERY, 0.001 * (n % 7), error=(n % 100 == 0) or None)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    stats = collector.get(Op.DB_QUERY)
    assert stats.count == per_thread * threads
    assert stats.errors == threads * (per_thread // 100)
    assert stats.min_seconds == 0.0
    assert stats.max_seconds == pytest.approx(0.006)
    expected_total = threads * sum(0.001 * (n % 7) for n in range(per_thread))
    assert stats.total_seconds == pytest.approx(expected_total)
    exposed = samples(collector)
    key = (("operation", "db_query"),)
    assert exposed[("shop_operations_total", key)] == per_thread * threads
    assert exposed[("shop_operation_duration_seconds_count", key)] == per_thread * threads


async def test_exact_counts_under_a_thousand_tasks():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)

    @collector.time(Op.CREATE_ORDER)
    async def create(i: int) -> int:
        await asyncio.sleep(0)
        if i % 10 == 0:
            raise ValueError("boom")
        return i

    results = await asyncio.gather(*(create(i) for i in range(1000)), return_exceptions=True)
    assert sum(isinstance(r, ValueError) for r in results) == 100
    stats = collector.get(Op.CREATE_ORDER)
    assert (stats.count, stats.errors) == (1000, 100)
    assert stats.error_rate == pytest.approx(10.0)


def test_min_max_avg_and_error_rate_arithmetic():
    clock = FakeClock()
    collector = MetricsCollector(namespace="shop", operations=CATALOG, clock=clock)
    for seconds in (0.0012, 0.0085, 0.1205, 0.0038):
        collector.record_operation("create_order", seconds)
    collector.record_operation("create_order", 0.002, error=RuntimeError("x"))
    s = collector.get("create_order")
    assert s.count == 5 and s.errors == 1
    assert s.min_seconds == pytest.approx(0.0012)
    assert s.max_seconds == pytest.approx(0.1205)
    assert s.avg_seconds == pytest.approx((0.0012 + 0.0085 + 0.1205 + 0.0038 + 0.002) / 5)
    assert s.error_rate == pytest.approx(20.0)
    assert s.last_recorded == clock.now
    # The spec's example: 12 errors in 15,420 operations is 0.078 %.
    assert OperationStats("x", count=15_420, errors=12).error_rate == pytest.approx(
        0.0778, abs=1e-4
    )


def test_error_flag_false_and_none_are_success():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    collector.record_operation("db_insert", 0.001, error=None)
    collector.record_operation("db_insert", 0.001, error=False)
    collector.record_operation("db_insert", 0.001, error=True)
    assert collector.get("db_insert").errors == 1


def test_untouched_operation_has_no_min_max():
    s = MetricsCollector(namespace="shop", operations=CATALOG).get(Op.AUTO_SIGNUP)
    assert (s.count, s.min_seconds, s.max_seconds, s.avg_seconds) == (0, None, None, None)


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf])
def test_bad_durations_are_rejected(bad):
    with pytest.raises(ValueError, match="duration"):
        MetricsCollector(namespace="shop", operations=CATALOG).record_operation("db_query", bad)


def test_windows_expire_with_an_injected_clock():
    clock = FakeClock()
    collector = MetricsCollector(
        namespace="shop", operations=CATALOG, clock=clock, window_resolution=5.0
    )
    for _ in range(10):
        collector.record_operation("list_orders", 0.002, error=True)
    clock.advance(30)
    for _ in range(30):
        collector.record_operation("list_orders", 0.004)

    one, five = collector.windows(60)["list_orders"], collector.windows(300)["list_orders"]
    assert (one.count, one.errors) == (40, 10)
    assert (five.count, five.errors) == (40, 10)

    clock.advance(45)  # the 10 failures are now 75 s old, the 30 successes 45 s old
    one, five = collector.windows(60)["list_orders"], collector.windows(300)["list_orders"]
    assert (one.count, one.errors) == (30, 0)
    assert (five.count, five.errors) == (40, 10)
    assert one.avg_seconds == pytest.approx(0.004)

    clock.advance(300)
    assert collector.windows(300)["list_orders"].count == 0
    assert collector.window_total(300).count == 0
    # Lifetime figures are untouched by windows.
    assert collector.get("list_orders").count == 40


def test_window_percentiles_follow_the_buckets():
    clock = FakeClock()
    collector = MetricsCollector(namespace="shop", operations=CATALOG, clock=clock)
    for _ in range(90):
        collector.record_operation("db_query", 0.0004)  # bucket (0.00025, 0.0005]
    for _ in range(10):
        collector.record_operation("db_query", 0.2)  # bucket (0.1, 0.25]
    w = collector.windows(60)["db_query"]
    assert 0.00025 <= w.p50_seconds <= 0.0005
    assert 0.1 <= w.p95_seconds <= 0.25
    assert 0.1 <= w.p99_seconds <= 0.25
    assert w.p50_seconds < w.p95_seconds <= w.p99_seconds


def test_window_total_sums_every_operation():
    collector = MetricsCollector(clock=FakeClock())
    collector.record_operation("db_query", 0.001)
    collector.record_operation("db_insert", 0.001, error=True)
    total = collector.window_total(300)
    assert (total.count, total.errors) == (2, 1)
    assert total.error_rate == pytest.approx(50.0)


def test_uncatalogued_names_are_created_until_the_cap():
    collector = MetricsCollector(namespace="shop", operations=(), max_operations=3)
    for name in ("alpha", "beta", "gamma", "delta", "epsilon"):
        collector.record_operation(name, 0.001)
    collector.record_operation("alpha", 0.001)
    assert collector.get("alpha").count == 2
    assert collector.get("gamma").count == 1
    assert collector.get("delta") is None
    assert collector.get("other").count == 2
    exposed = samples(collector)
    assert exposed[("shop_operations_overflow_total", ())] == 2
    assert exposed[("shop_operations_total", (("operation", "other"),))] == 2


@pytest.mark.parametrize(
    "name", ["", "Create", "9lives", "has space", "dash-name", "x" * 65, "ünicode", None]
)
def test_invalid_names_raise(name):
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    with pytest.raises(ValueError, match="invalid operation name"):
        collector.record_operation(name, 0.001)
    with pytest.raises(ValueError):
        collector.time(name)


def test_name_of_64_characters_is_valid():
    collector = MetricsCollector(namespace="shop", operations=())
    collector.record_operation("a" * 64, 0.001)
    assert collector.get("a" * 64).count == 1


def test_two_collectors_do_not_collide_and_registry_is_injectable():
    MetricsCollector(namespace="shop", operations=CATALOG)
    MetricsCollector(
        namespace="shop", operations=CATALOG
    )  # own registries: no "Duplicated timeseries"
    registry = CollectorRegistry()
    collector = MetricsCollector(registry, operations=CATALOG, namespace="shop")
    collector.record_operation("checkout", 0.01)
    assert registry.get_sample_value("shop_operations_total", {"operation": "checkout"}) == 1
    with pytest.raises(ValueError, match="Duplicated"):
        MetricsCollector(registry, operations=CATALOG, namespace="shop")


def test_reset_starts_a_new_baseline_but_counters_stay_monotonic():
    clock = FakeClock()
    collector = MetricsCollector(namespace="shop", operations=CATALOG, clock=clock)
    for _ in range(5):
        collector.record_operation("create_order", 0.05)
    collector.reset()
    assert collector.get("create_order").count == 0
    assert collector.get("create_order").max_seconds is None
    assert collector.windows(60)["create_order"].count == 0
    collector.record_operation("create_order", 0.002)
    s = collector.get("create_order")
    assert (s.count, s.max_seconds) == (1, 0.002)
    assert collector.windows(60)["create_order"].count == 1
    reg = collector.registry
    assert reg.get_sample_value("shop_operations_total", {"operation": "create_order"}) == 6


def test_merge_combines_worker_records():
    a = OperationStats("q", count=3, errors=1, total_seconds=0.3, min_seconds=0.05,
                       max_seconds=0.2, last_recorded=100.0)  # fmt: skip
    b = OperationStats("q", count=1, errors=0, total_seconds=0.5, min_seconds=0.5,
                       max_seconds=0.5, last_recorded=200.0)  # fmt: skip
    m = a.merge(b)
    assert (m.count, m.errors, m.min_seconds, m.max_seconds, m.last_recorded) == (
        4, 1, 0.05, 0.5, 200.0
    )  # fmt: skip
    assert m.avg_seconds == pytest.approx(0.2)
    assert OperationStats("q").merge(a) == a


def test_timer_end_records_once_and_end_ok():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    timer = OperationTimer(collector, Op.USER_EXISTS)
    first = timer.end(ValueError("no"))
    assert timer.end() == first
    collector.timer(Op.USER_EXISTS).end_ok()
    s = collector.get(Op.USER_EXISTS)
    assert (s.count, s.errors) == (2, 1)


def test_time_as_context_manager_counts_exceptions_and_reraises():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    with collector.time(Op.CACHE_GET):
        pass
    with pytest.raises(KeyError), collector.time(Op.CACHE_GET):
        raise KeyError("missing")
    s = collector.get(Op.CACHE_GET)
    assert (s.count, s.errors) == (2, 1)


def test_time_refuses_to_time_two_blocks_at_once():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    timing = collector.time(Op.CACHE_SET)
    with timing, pytest.raises(RuntimeError, match="already timing"), timing:
        pass
    with timing:  # usable again once the first block ended
        pass
    assert collector.get(Op.CACHE_SET).count == 2


def test_timing_holds_its_start_only_inside_the_block_and_its_duration_after():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    for timing in (collector.time(Op.CACHE_SET), Timing.of(collector, Op.CACHE_SET)):
        assert (timing.started, timing.elapsed) == (None, None)
        with timing as entered:
            assert entered is timing and timing.started is not None and timing.elapsed is None
        assert timing.started is None and timing.elapsed is not None and timing.elapsed >= 0.0
    assert collector.get(Op.CACHE_SET).count == 2


def test_timing_counts_only_unexpected_exceptions_as_errors():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    timing = Timing.of(collector, Op.GET_USER, expected=LookupError)
    with pytest.raises(KeyError), timing:
        raise KeyError("an expected kind")
    with pytest.raises(RuntimeError), timing:
        raise RuntimeError("not expected")
    with pytest.raises(asyncio.CancelledError), timing:
        raise asyncio.CancelledError  # a cancellation: nothing failed
    s = collector.get(Op.GET_USER)
    assert (s.count, s.errors) == (3, 1)


def test_decorator_on_sync_function():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)

    @collector.time(Op.PARSE_CONVERSATION)
    def parse(text: str) -> str:
        if not text:
            raise ValueError("empty")
        return text.upper()

    assert parse.__name__ == "parse"
    assert parse("lunch") == "LUNCH"
    with pytest.raises(ValueError):
        parse("")
    s = collector.get(Op.PARSE_CONVERSATION)
    assert (s.count, s.errors) == (2, 1)


async def test_decorator_on_async_function_times_the_await():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)

    @collector.time(Op.SEND_REPLY)
    async def send() -> str:
        await asyncio.sleep(0.02)
        return "sent"

    assert await send() == "sent"
    assert collector.get(Op.SEND_REPLY).min_seconds >= 0.019


def test_last_recorded_and_build_info_are_exposed():
    clock = FakeClock(1_705_401_060.0)
    collector = MetricsCollector(namespace="shop", operations=CATALOG, clock=clock, version="1.2.3")
    collector.record_operation("create_order", 0.001)
    exposed = samples(collector)
    assert exposed[(
        "shop_operation_last_recorded_timestamp_seconds", (("operation", "create_order"),)
    )] == 1_705_401_060.0  # fmt: skip
    assert ("shop_operation_last_recorded_timestamp_seconds",
            (("operation", "list_orders"),)) not in exposed  # fmt: skip
    assert exposed[("shop_build_info", (("version", "1.2.3"),))] == 1.0
    assert any(name == "process_resident_memory_bytes" for name, _ in exposed)
    assert any(name == "python_gc_collections_total" for name, _ in exposed)


def test_histogram_buckets_span_100us_to_10s():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    les = {
        dict(labels)["le"]
        for (name, labels), _ in samples(collector).items()
        if name == "shop_operation_duration_seconds_bucket"
    }
    assert min(float(le) for le in les) == 0.0001
    assert max(float(le) for le in les if le != "+Inf") == 10.0


def test_namespace_is_configurable():
    collector = MetricsCollector(operations=CATALOG, namespace="myapp")
    collector.record_operation("job", 0.1)
    assert collector.registry.get_sample_value("myapp_operations_total", {"operation": "job"}) == 1


def test_window_total_can_judge_a_subset():
    collector = MetricsCollector(clock=FakeClock())
    collector.record_operation("webhook_line_message", 0.001, error=True)
    collector.record_operation("create_order", 0.001)
    judged = collector.window_total(300, lambda op: not op.startswith("webhook_"))
    assert (judged.count, judged.errors) == (1, 0)


async def test_expected_exceptions_are_reraised_as_successes():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)

    class CallerMistake(Exception):
        pass

    @collector.time(Op.GET_USER, expected=CallerMistake)
    async def get_user(uid: int) -> int:
        if uid < 0:
            raise CallerMistake("no such user")
        if uid == 0:
            raise RuntimeError("database down")
        return uid

    assert await get_user(1) == 1
    with pytest.raises(CallerMistake):
        await get_user(-1)
    with pytest.raises(RuntimeError):
        await get_user(0)
    with pytest.raises(CallerMistake), collector.time(Op.GET_USER, expected=(CallerMistake,)):
        raise CallerMistake("again")
    s = collector.get(Op.GET_USER)
    assert (s.count, s.errors) == (4, 1)


async def test_cancellation_is_not_an_operation_error():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)

    @collector.time(Op.SEND_REPLY)
    async def slow() -> None:
        await asyncio.sleep(10)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(slow(), 0.01)
    s = collector.get(Op.SEND_REPLY)
    assert (s.count, s.errors) == (1, 0)


def test_history_has_one_point_a_step_with_rate_errors_and_p95():
    clock = FakeClock()
    collector = MetricsCollector(namespace="shop", clock=clock, history_step=60.0)
    for minute in range(3):
        for n in range(60):
            collector.record_operation("checkout", 0.004, error=n < minute * 6)
        clock.advance(60.0)
        collector.snapshot()  # a read takes the snapshot, as the health sampler does
    points = collector.history()
    assert [p.count for p in points] == [60, 60, 60]
    assert [p.errors for p in points] == [0, 6, 12]
    assert points[1].rate == pytest.approx(1.0) and points[2].error_rate == pytest.approx(20.0)
    assert 0.0025 < points[0].p95_seconds <= 0.005  # within the 2.5-5 ms bucket
    clock.advance(3600.0)
    collector.snapshot()
    assert len(collector.history()) <= 31  # bounded: 30 minutes of 60-second steps
