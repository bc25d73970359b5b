"""Exponential bucket schemas: which sparse bucket a value falls in, and its bounds.

A native histogram's schema ``s`` (-4 <= s <= 8) splits every power of two into ``2^s``
buckets (for negative ``s``, one bucket spans ``2^-s`` powers of two): each boundary is the
previous one times ``2^(2^-s)``, and 1 is a boundary at every schema. Bucket ``k`` holds the
values ``v`` with ``base^(k-1) < |v| <= base^k``, ``base = 2^(2^-s)``; so at schema 3,
1.0 is in bucket 0 and 1.1 in bucket 2 (1.0905 < 1.1 <= 1.1892).

The index is computed the way client_golang's ``histogramCounts.observe`` does it:
``math.frexp`` splits ``|v|`` into ``frac * 2^exp`` (0.5 <= frac < 1) and the fraction is
searched in a table of the ``2^s`` boundaries within one power of two. Infinities go one
bucket above ``math.inf``'s neighbour ``sys.float_info.max``; NaN goes in no bucket.

The tables here are the correctly rounded values of ``2^(j/2^s - 1)``. client_golang's
hard-coded tables were produced by repeated multiplication and differ from them in the last
binary digit for some entries, so a value lying exactly on such a boundary (to the last bit)
may be counted one bucket apart; no measured value is affected beyond that one unit in the
last place, and the bucket bounds Prometheus reports are its own.
"""

from __future__ import annotations

import functools
import math
import sys
from bisect import bisect_left
from decimal import Decimal, localcontext
from typing import Final

SCHEMA_MIN: Final = -4
SCHEMA_MAX: Final = 8
DEFAULT_ZERO_THRESHOLD: Final = 2.0**-128  # client_golang's default: a boundary at every schema


@functools.cache
def fraction_bounds(schema: int) -> tuple[float, ...]:
    """The ``2^schema`` boundaries within [0.5, 1) for ``schema`` in [0, 8]:
    ``2^(j/2^schema - 1)``, correctly rounded (exact decimal arithmetic, not the platform's
    ``pow``); computed on first use (schema 8 takes ~100 ms, schema 3 well under one)."""
    if not 0 <= schema <= SCHEMA_MAX:
        raise ValueError(f"schema: must be in [0, {SCHEMA_MAX}] for a table, got {schema!r}")
    with localcontext() as context:
        context.prec = 40
        n = 2**schema
        return tuple(float(Decimal(2) ** (Decimal(j) / n - 1)) for j in range(n))


@functools.cache
def key_table(schema: int) -> tuple[int, tuple[float, ...]]:
    """``(first, bounds)`` for ``schema`` in [0, 8]: ``bounds[i]`` is the upper bound of
    bucket ``first + i``, ascending, over the values from 2^-32 to 2^32 (2^-16 to 2^16 at
    schema 7, 2^-8 to 2^8 at 8: at most 4096 bounds). For ``bounds[0] < v <= bounds[-1]``,
    ``first + bisect_left(bounds, v)`` is ``bucket_key(v, schema)``: one search, where
    ``frexp`` and a search in :func:`fraction_bounds` take two calls and some arithmetic
    (the bounds are the fractions scaled by powers of two, exactly)."""
    fractions = fraction_bounds(schema)
    octaves = min(32, 2048 >> schema)
    bounds = tuple(math.ldexp(f, e + 1) for e in range(-octaves, octaves) for f in fractions)
    return -octaves * len(fractions), bounds


def pick_schema(bucket_factor: float) -> int:
    """The largest schema whose growth factor ``2^(2^-schema)`` is at most ``bucket_factor``,
    within [-4, 8] (client_golang's ``pickSchema``: 1.1 -> 3, 1.2 -> 2, 2 -> 0, 4 -> -1)."""
    if not bucket_factor > 1:
        raise ValueError(f"bucket_factor: must be > 1, got {bucket_factor!r}")
    floor = math.floor(math.log2(math.log2(bucket_factor)))
    if floor <= -SCHEMA_MAX:
        return SCHEMA_MAX
    if floor >= -SCHEMA_MIN:
        return SCHEMA_MIN
    return -floor


def bucket_key(value: float, schema: int) -> int:
    """The index of the bucket holding ``|value|`` at ``schema`` (``value`` not NaN, not 0)."""
    infinite = math.isinf(value)
    frac, exp = math.frexp(sys.float_info.max if infinite else abs(value))
    if schema >= 0:
        bounds = fraction_bounds(schema)
        key = bisect_left(bounds, frac) + (exp - 1) * len(bounds)
    else:
        key = exp - 1 if frac == 0.5 else exp
        key = reduce_key(key, -schema)
    return key + 1 if infinite else key


def reduce_key(key: int, steps: int) -> int:
    """The bucket that bucket ``key`` merges into when the schema drops by ``steps``
    (each step merges two neighbours: 1 and 2 into 1, -1 and 0 into 0)."""
    return ((key - 1) >> steps) + 1


def upper_bound(key: int, schema: int) -> float:
    """The inclusive upper bound of bucket ``key`` at ``schema``; the last finite bucket's is
    ``sys.float_info.max`` and the bucket above it (the infinities') ``math.inf``."""
    if schema < 0:
        exp = key << -schema
        if exp == 1024:
            return sys.float_info.max
        return math.inf if exp > 1024 else math.ldexp(1.0, exp)
    bounds = fraction_bounds(schema)
    frac = bounds[key & (len(bounds) - 1)]
    exp = (key >> schema) + 1
    if frac == 0.5 and exp == 1025:
        return sys.float_info.max
    try:
        return math.ldexp(frac, exp)
    except OverflowError:
        return math.inf


def lower_bound(key: int, schema: int) -> float:
    """The exclusive lower bound of bucket ``key``: the upper bound of the bucket below."""
    return upper_bound(key - 1, schema)
