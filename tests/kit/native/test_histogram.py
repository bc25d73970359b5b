"""The live histogram against client_golang's own expectations (its TestNativeHistogram
scenarios, observations a simulated minute apart), and merging workers' states."""

from __future__ import annotations

import math
import random
import sys
import threading
from dataclasses import dataclass, field

import pytest

from exporter.native import (
    DEFAULT_ZERO_THRESHOLD,
    NativeHistogram,
    NativeOptions,
    NativeState,
    bucket_key,
    upper_bound,
)
from exporter.native.spans import expand, spans_and_deltas
from tests.kit.native.test_schema import exact_key

ZT = DEFAULT_ZERO_THRESHOLD


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Want:
    count: int
    sum: float
    schema: int
    zero_threshold: float = ZT
    zero_count: int = 0
    positive: tuple = ()  # (spans, deltas)
    negative: tuple = ()
    created_minutes: int = 0  # after the histogram was made
    extra: dict = field(default_factory=dict)


def run(observations, **options) -> tuple[NativeState, Clock]:
    """client_golang's loop: the clock starts a minute on, each observation a minute apart."""
    clock = Clock()
    start = clock.now
    h = NativeHistogram(NativeOptions(**options), clock=clock)
    clock.now += 60
    for value in observations:
        h.observe(value)
        clock.now += 60
    state = h.snapshot()
    return state, Clock(start)


SCENARIOS = {
    "factor 1.1 results in schema 3": (
        [0, 1, 2, 3], {"bucket_factor": 1.1},
        Want(4, 6, 3, zero_count=1, positive=([(0, 1), (7, 1), (4, 1)], [1, 0, 0])),
    ),
    "factor 1.2 results in schema 2": (
        [0, 1, 1.2, 1.4, 1.8, 2], {"bucket_factor": 1.2},
        Want(6, 7.4, 2, zero_count=1, positive=([(0, 5)], [1, -1, 2, -2, 2])),
    ),
    "negative and positive buckets": (
        [0, -1, -1.2, -1.4, -1.8, -2, 1, 1.2, 1.4, 1.8, 2], {"bucket_factor": 1.2},
        Want(11, 0, 2, zero_count=1, positive=([(0, 5)], [1, -1, 2, -2, 2]),
             negative=([(0, 5)], [1, -1, 2, -2, 2])),
    ),
    "wide zero bucket": (
        [0, -1, -1.2, -1.4, -1.8, -2, 1, 1.2, 1.4, 1.8, 2],
        {"bucket_factor": 1.2, "zero_threshold": 1.4},
        Want(11, 0, 2, 1.4, 7, positive=([(4, 1)], [2]), negative=([(4, 1)], [2])),
    ),
    "+Inf observation": (
        [0, 1, 1.2, 1.4, 1.8, 2, math.inf], {"bucket_factor": 1.2},
        Want(7, math.inf, 2, zero_count=1,
             positive=([(0, 5), (4092, 1)], [1, -1, 2, -2, 2, -1])),
    ),
    "-Inf observation": (
        [0, 1, 1.2, 1.4, 1.8, 2, -math.inf], {"bucket_factor": 1.2},
        Want(7, -math.inf, 2, zero_count=1, positive=([(0, 5)], [1, -1, 2, -2, 2]),
             negative=([(4097, 1)], [1])),
    ),
    "limited buckets but nothing triggered": (
        [0, 1, 1.2, 1.4, 1.8, 2], {"bucket_factor": 1.2, "max_buckets": 4},
        Want(6, 7.4, 2, zero_count=1, positive=([(0, 5)], [1, -1, 2, -2, 2])),
    ),
    "buckets limited by halving resolution": (
        [0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3], {"bucket_factor": 1.2, "max_buckets": 4},
        Want(8, 11.5, 1, zero_count=1, positive=([(0, 5)], [1, 2, -1, -2, 1])),
    ),
    "buckets limited by halving resolution, negative observations": (
        [0, -1, -1.1, -1.2, -1.4, -1.8, -2, -3], {"bucket_factor": 1.2, "max_buckets": 4},
        Want(8, -11.5, 1, zero_count=1, negative=([(0, 5)], [1, 2, -1, -2, 1])),
    ),
    "buckets limited by widening the zero bucket": (
        [0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3],
        {"bucket_factor": 1.2, "max_buckets": 4, "max_zero_threshold": 1.2},
        Want(8, 11.5, 2, 1.0, 2, positive=([(1, 7)], [1, 1, -2, 2, -2, 0, 1])),
    ),
    "buckets limited by widening the zero bucket twice": (
        [0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3, 4],
        {"bucket_factor": 1.2, "max_buckets": 4, "max_zero_threshold": 1.2},
        Want(9, 15.5, 2, 1.189207115002721, 3, positive=([(2, 7)], [2, -2, 2, -2, 0, 1, 0])),
    ),
    "buckets limited by reset": (
        [0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3, 4],
        {"bucket_factor": 1.2, "max_buckets": 4, "max_zero_threshold": 1.2,
         "min_reset_seconds": 300},
        Want(2, 7, 2, positive=([(7, 2)], [1, 0]), created_minutes=8),
    ),
    "buckets limited by reset, negative observations": (
        [0, -1, -1.1, -1.2, -1.4, -1.8, -2, -3, -4],
        {"bucket_factor": 1.2, "max_buckets": 4, "max_zero_threshold": 1.2,
         "min_reset_seconds": 300},
        Want(2, -7, 2, negative=([(7, 2)], [1, 0]), created_minutes=8),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", SCENARIOS)
def test_client_golang_scenarios(name):
    observations, options, want = SCENARIOS[name]
    state, start = run(observations, **options)
    assert (state.count, state.schema, state.zero_count) == (want.count, want.schema,
                                                              want.zero_count)  # fmt: skip
    assert state.sum == want.sum
    assert state.zero_threshold == want.zero_threshold
    assert spans_and_deltas(state.positive) == tuple(map(list, want.positive or ([], [])))
    assert spans_and_deltas(state.negative) == tuple(map(list, want.negative or ([], [])))
    assert state.created == start.now + 60 * want.created_minutes


def test_nan_counts_but_lands_in_no_bucket():
    state, _ = run([0, 1, 1.2, 1.4, 1.8, 2, math.nan], bucket_factor=1.2)
    assert state.count == 7 and math.isnan(state.sum)
    assert sum(state.positive.values()) + state.zero_count == 6


def test_a_reduction_is_undone_by_the_first_snapshot_after_min_reset_seconds():
    clock = Clock()
    h = NativeHistogram(
        NativeOptions(bucket_factor=1.2, max_buckets=2, min_reset_seconds=60), clock=clock
    )
    for value in (1, 1.2, 1.8):  # a third bucket: halved (the reset is not due yet)
        h.observe(value)
    assert h.snapshot().schema == 1
    clock.now += 61
    h.observe(1.8)
    reduced = h.snapshot()  # everything so far is reported, at the reduced schema...
    assert (reduced.schema, reduced.count) == (1, 4)
    h.observe(1.0)
    fresh = h.snapshot()  # ...and the histogram starts over at its own schema
    assert (fresh.schema, fresh.count, fresh.created) == (2, 1, clock.now)


def test_classic_buckets_beside_native_ones():
    h = NativeHistogram(buckets=(0.1, 1.0, math.inf))
    for value in (0.1, 0.5, 1.0, 3.0, -2.0, 0.0, math.nan):
        h.observe(value)
    state = h.snapshot()
    assert state.classic_bounds == (0.1, 1.0)
    assert state.cumulative_classic() == [3, 5, 7]  # le=0.1 holds -2, 0, 0.1; +Inf = count
    assert state.count == 7


def test_buckets_must_ascend():
    with pytest.raises(ValueError, match="ascending"):
        NativeHistogram(buckets=(1.0, 0.5))


@pytest.mark.parametrize(
    "options",
    [{"zero_threshold": -1.0}, {"max_buckets": -1}, {"min_reset_seconds": math.inf},
     {"bucket_factor": 1.0}, {"max_zero_threshold": math.nan}],
)  # fmt: skip
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError):
        NativeOptions(**options)


def test_exemplars_keep_the_newest_per_classic_bucket():
    clock = Clock()
    h = NativeHistogram(buckets=(1.0,), clock=clock)
    h.observe(0.5, {"trace_id": "a"})
    clock.now += 1
    h.observe(0.7, {"trace_id": "b"})
    h.observe(5.0, {"trace_id": "c"})
    low, high = h.snapshot().exemplars
    assert (low.labels, low.value, low.timestamp) == ({"trace_id": "b"}, 0.7, clock.now)
    assert high.labels == {"trace_id": "c"}


def test_observations_from_threads_are_all_counted():
    h = NativeHistogram(buckets=(0.5,))

    def work(offset: int) -> None:
        for i in range(5000):
            h.observe((i % 97 + offset) / 50)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = h.snapshot()
    assert state.count == 20000 == sum(state.positive.values()) + state.zero_count
    assert state.cumulative_classic()[-1] == 20000


# -- merging workers' states ----------------------------------------------------------------


def observed(values, **options) -> NativeState:
    h = NativeHistogram(NativeOptions(**options), buckets=(1.0,))
    for v in values:
        h.observe(v)
    return h.snapshot()


def test_same_schema_states_add_bucket_by_bucket():
    a, b = observed([1, 2, 3]), observed([2, 3, 3, -1, 0])
    merged = a.merge(b)
    together = observed([1, 2, 3, 2, 3, 3, -1, 0])
    assert (merged.count, merged.sum, merged.zero_count) == (8, 13.0, 1)
    assert merged.positive == together.positive and merged.negative == together.negative
    assert merged.classic_counts == together.classic_counts


def test_different_schemas_reduce_to_the_coarser():
    values_a, values_b = [1.1, 1.5, 3.3, 0.2], [1.3, 7.7, 0.002]
    merged = observed(values_a, bucket_factor=1.1).merge(observed(values_b, bucket_factor=1.5))
    assert merged.schema == 1
    assert merged.positive == observed(values_a + values_b, bucket_factor=1.5).positive


def test_different_zero_thresholds_widen_to_the_wider():
    a = observed([0.001, 0.01, 0.3, 2.0], bucket_factor=1.2)
    b = observed([0.02, 5.0], bucket_factor=1.2, zero_threshold=0.015)
    merged = a.merge(b)
    assert merged.zero_threshold == 0.015  # no populated bucket straddles it
    assert merged.zero_count == 2  # a's 0.001 and 0.01; b's 0.02 lies above 0.015
    assert merged.count == 6 == merged.zero_count + sum(merged.positive.values())
    assert merged == b.merge(a)


def test_merge_keeps_the_newer_exemplar_and_the_earlier_creation():
    clock = Clock()
    a = NativeHistogram(buckets=(1.0,), clock=clock)
    a.observe(0.5, {"trace_id": "old"})
    clock.now += 5
    b = NativeHistogram(buckets=(1.0,), clock=clock)
    b.observe(0.6, {"trace_id": "new"})
    merged = a.snapshot().merge(b.snapshot())
    assert merged.exemplars[0].labels == {"trace_id": "new"}
    assert merged.created == clock.now - 5


def test_spans_round_trip():
    buckets = {-5: 3, -4: 1, 0: 2, 2: 7, 3: 1, 10: 4, 4097: 1}
    spans, deltas = spans_and_deltas(buckets)
    assert spans == [(-5, 2), (3, 4), (6, 1), (4086, 1)]  # gaps of 1-2 bridged with zeros
    assert expand(spans, deltas) == buckets


def test_a_zero_threshold_inside_a_populated_bucket_grows_to_its_upper_bound():
    a = observed([0.014], bucket_factor=1.2)  # bucket (2^(-25/4), 2^-6] at schema 2
    b = observed([], bucket_factor=1.2, zero_threshold=0.014)
    merged = a.merge(b)
    assert merged.zero_threshold == 2**-6
    assert (merged.zero_count, merged.positive) == (1, {})


# -- the inlined index of observe() against the reference -------------------------------------


def _keys_seen(value: float, schema: int) -> tuple[dict, dict, int]:
    """The sparse buckets and zero count after observing ``value`` alone at ``schema``."""
    h = NativeHistogram(NativeOptions(bucket_factor=2 ** (2.0**-schema), max_buckets=0))
    h.observe(value)
    state = h.snapshot()
    assert state.schema == schema and state.count == 1
    return dict(state.positive), dict(state.negative), state.zero_count


def _values_around_boundaries(schema: int) -> list[float]:
    """Every bucket boundary from 2^-70 to 2^70 (powers of two among them) and the floats
    just either side of each, extreme magnitudes, and log-uniform values in between."""
    rng = random.Random(schema)
    step = 2 ** max(0, schema - 3)  # at most eight boundaries per power of two: a fast test
    first, last = -70 << schema if schema >= 0 else -70 >> -schema, 70 << max(schema, 0)
    bounds = [upper_bound(k, schema) for k in range(first, last + 1, step)]
    around = [math.nextafter(b, d) for b in bounds for d in (0.0, math.inf)]
    extremes = [5e-324, 2.0**-1022, 2.0**-128 * 1.5, 1e300, sys.float_info.max]
    return [*bounds, *around, *extremes, *(2 ** rng.uniform(-80, 80) for _ in range(2000))]


@pytest.mark.parametrize("schema", [-4, -1, 0, 1, 3, 8])
def test_observe_counts_each_value_in_the_bucket_the_reference_formula_gives(schema):
    for value in _values_around_boundaries(schema):
        positive, negative, zero = _keys_seen(value, schema)
        if value <= ZT:
            assert (positive, negative, zero) == ({}, {}, 1), value
            continue
        key = bucket_key(value, schema)
        assert (positive, negative, zero) == ({key: 1}, {}, 0), value
        assert _keys_seen(-value, schema) == ({}, {key: 1}, 0), value


@pytest.mark.parametrize("schema", [-2, 0, 3])
def test_observe_agrees_with_exact_arithmetic_on_powers_of_two_and_their_neighbours(schema):
    for exp in range(-60, 61, 7):
        for value in (2.0**exp, math.nextafter(2.0**exp, 0), math.nextafter(2.0**exp, 9e9)):
            assert _keys_seen(value, schema)[0] == {exact_key(value, schema): 1}, value


def test_zero_infinities_and_nan_take_their_places_at_every_schema():
    for schema in (-4, 0, 3, 8):
        top = bucket_key(sys.float_info.max, schema)
        assert _keys_seen(0.0, schema) == ({}, {}, 1)
        assert _keys_seen(-0.0, schema) == ({}, {}, 1)
        assert _keys_seen(ZT, schema) == ({}, {}, 1)  # the threshold itself is in the zero bucket
        assert _keys_seen(math.inf, schema) == ({top + 1: 1}, {}, 0)
        assert _keys_seen(-math.inf, schema) == ({}, {top + 1: 1}, 0)
        assert _keys_seen(math.nan, schema) == ({}, {}, 0)  # counted (count 1), in no bucket


def test_the_count_is_every_observation_through_widening_and_halving():
    h = NativeHistogram(NativeOptions(max_buckets=4, max_zero_threshold=0.01), buckets=(1.0,))
    values = [0.001, 0.002, 0.004, 0.3, 3.0, 30.0, 300.0, -7.0, 0.0, math.nan, math.inf] * 3
    for value in values:
        h.observe(value)
    state = h.snapshot()
    assert state.zero_threshold > ZT and state.schema < 3  # both reductions happened
    assert state.count == len(values) == state.cumulative_classic()[-1]
    in_buckets = sum(state.positive.values()) + sum(state.negative.values())
    assert state.count == state.zero_count + in_buckets + 3  # the NaNs: in no bucket
