"""Bucket index math: client_golang's schemas, boundaries and index computation."""

from __future__ import annotations

import math
import random
import sys
from bisect import bisect_left
from fractions import Fraction

import pytest

from exporter.native import bucket_key, lower_bound, pick_schema, upper_bound
from exporter.native.schema import fraction_bounds, key_table, reduce_key


@pytest.mark.parametrize(
    ("factor", "schema"),
    [(1.1, 3), (1.2, 2), (1.5, 1), (2, 0), (4, -1), (17, -2), (1.0001, 8), (1e9, -4),
     (2 ** (2**-3), 3), (1.09, 4), (1.0027, 8)],
)  # fmt: skip
def test_the_schema_is_the_finest_whose_factor_does_not_exceed_the_bucket_factor(factor, schema):
    assert pick_schema(factor) == schema


@pytest.mark.parametrize("factor", [1.0, 0.5, -2.0, math.nan])
def test_a_bucket_factor_of_one_or_less_is_refused(factor):
    with pytest.raises(ValueError, match="bucket_factor"):
        pick_schema(factor)


@pytest.mark.parametrize(
    ("value", "schema", "key"),
    [
        (1.0, 3, 0),  # 1 is a boundary at every schema: the upper bound of bucket 0
        (1.1, 3, 2),  # 2^(1/8) = 1.0905 < 1.1 <= 2^(2/8) = 1.1892
        (2.0, 3, 8),
        (3.0, 3, 13),  # client_golang: 0, 1, 2, 3 -> spans (0,1), (7,1), (4,1)
        (0.5, 3, -8),
        (1.2, 2, 2),
        (1.4, 2, 2),
        (1.8, 2, 4),
        (0.0625, -1, -2),  # client_golang's "factor 4" comments: (0.015625, 0.0625]
        (0.0156251, -1, -2),
        (33.33, -1, 3),
        (1.0, -2, 0),
        (33.33, -2, 2),
        (-1.1, 3, 2),  # the sign does not matter: negative buckets mirror positive ones
    ],
)
def test_bucket_keys(value, schema, key):
    assert bucket_key(value, schema) == key


def exact_key(value: float, schema: int) -> int:
    """ceil(log2(v) * 2^schema), from exact rationals: v <= 2^(k/2^s)  <=>  v^(2^s) <= 2^k."""
    v = Fraction(value)
    if schema >= 0:
        power, scale = v ** (2**schema), 1
    else:
        power, scale = v, 2**-schema  # bucket k at schema -n is (2^(n(k-1)), 2^(nk)]
    k = math.floor(math.log2(value) * 2**schema) - 1
    while not power <= Fraction(2) ** (k * scale):
        k += 1
    return k


@pytest.mark.parametrize("schema", [-4, -1, 0, 1, 3, 5, 8])
def test_keys_agree_with_exact_arithmetic(schema):
    values = [1e-9, 0.001, 0.0042, 0.3, 0.999999, 1.000001, 7.0, 123.456, 1e6, 3.3e12]
    for value in values:
        assert bucket_key(value, schema) == exact_key(value, schema), value


def test_bounds_are_the_powers_of_the_growth_factor():
    # Some of client_golang's table entries (schema 3 and 4): ours agree to the last bit on
    # these, and are within one unit in the last place on every entry (see schema.py).
    assert fraction_bounds(3)[:4] == (
        0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048,
    )  # fmt: skip
    assert fraction_bounds(4)[1] == 0.5221368912137069
    for schema in range(0, 9):
        for i, bound in enumerate(fraction_bounds(schema)):
            assert math.isclose(bound, 2 ** (i / 2**schema - 1), rel_tol=2**-52)
    assert upper_bound(0, 3) == 1.0 and upper_bound(8, 3) == 2.0
    assert upper_bound(2, 3) == pytest.approx(2 ** (2 / 8))
    assert lower_bound(2, 3) == pytest.approx(2 ** (1 / 8))
    assert upper_bound(1, 2) == 1.189207115002721  # client_golang's widened zero threshold
    assert upper_bound(3, -1) == 64.0 and lower_bound(3, -1) == 16.0


@pytest.mark.parametrize("schema", [-4, -2, 0, 2, 3, 8])
def test_every_value_lies_within_its_buckets_bounds(schema):
    for value in (1e-300, 1e-5, 0.7, 1.0, 2.0, 1e5, 1e300, sys.float_info.max):
        key = bucket_key(value, schema)
        assert lower_bound(key, schema) < value <= upper_bound(key, schema)


def test_infinities_go_one_bucket_above_the_largest_float():
    for schema in (-4, 0, 2, 3, 8):
        top = bucket_key(sys.float_info.max, schema)
        assert upper_bound(top, schema) == sys.float_info.max
        assert bucket_key(math.inf, schema) == bucket_key(-math.inf, schema) == top + 1
        assert upper_bound(top + 1, schema) == math.inf
    assert bucket_key(math.inf, 2) == 4097  # client_golang's "+Inf observation": 4092 + 5


@pytest.mark.parametrize("key", range(-9, 10))
def test_halving_merges_neighbours_as_client_golang_does(key):
    # client_golang's doubleBucketWidth: if key > 0 { key++ }; key /= 2 (truncating)
    expected = int((key + 1 if key > 0 else key) / 2)
    assert reduce_key(key, 1) == expected
    # and the merged bucket covers the original: reduce by several steps at once
    for steps in (1, 2, 3):
        merged = reduce_key(key, steps)
        assert lower_bound(merged, 3 - steps) <= lower_bound(key, 3)
        assert upper_bound(key, 3) <= upper_bound(merged, 3 - steps)


@pytest.mark.parametrize("schema", range(0, 9))
def test_the_key_table_gives_bucket_key_within_its_range(schema):
    first, bounds = key_table(schema)
    assert list(bounds) == sorted(set(bounds)) and len(bounds) <= 4096
    assert bounds[0] == 2.0 ** -min(32, 2048 >> schema)
    assert first == bucket_key(bounds[0], schema)
    rng = random.Random(schema)
    inside = list(bounds[1 :: max(1, len(bounds) // 512)])
    values = [math.nextafter(bounds[0], 1.0), bounds[-1]]
    values += [math.nextafter(b, d) for b in inside for d in (0.0, math.inf)] + inside
    values += [rng.uniform(bounds[0], bounds[-1]) * rng.random() for _ in range(500)]
    for value in values:
        if bounds[0] < value <= bounds[-1]:
            assert first + bisect_left(bounds, value) == bucket_key(value, schema), value
