"""Quantiles of a native histogram, as PromQL's ``histogram_quantile`` estimates them.

The buckets are walked in ascending order of their values (negative buckets from the most
negative, the zero bucket, positive buckets), and the quantile's rank is interpolated
linearly within the bucket it falls in, as Prometheus 2.42 does for native histograms. At
schema 3 a bucket spans a factor of 1.09, so the estimate is within 4.4% of the true value
(relative), far closer than classic buckets a factor of 2-2.5 apart.
"""

from __future__ import annotations

from collections.abc import Iterator

from .schema import lower_bound, upper_bound
from .state import NativeState

_Bucket = tuple[float, float, int]  # (lower, upper, count)


def native_quantile(
    q: float,
    state: NativeState,
    observed: tuple[float | None, float | None] = (None, None),
) -> float | None:
    """The ``q`` quantile (0 <= q <= 1) of ``state``'s observations, or None when it holds
    none; ``observed``: a range known to hold every observation (the estimate stays in it)."""
    total = state.zero_count + sum(state.positive.values()) + sum(state.negative.values())
    if total <= 0:
        return None
    rank = q * total
    below = 0
    estimate = 0.0
    for lower, upper, count in _ascending(state):
        if below + count >= rank and count:
            estimate = lower + (upper - lower) * (rank - below) / count
            break
        below += count
        estimate = upper
    return bounded(estimate, observed)


def bounded(estimate: float, observed: tuple[float | None, float | None]) -> float:
    """``estimate`` within the ``observed`` (low, high) range, either end possibly unknown:
    interpolating in a bucket must not report what was never seen."""
    lo, hi = observed
    if hi is not None and estimate > hi:
        return hi
    if lo is not None and estimate < lo:
        return lo
    return estimate


def _ascending(state: NativeState) -> Iterator[_Bucket]:
    schema = state.schema
    for key in sorted(state.negative, reverse=True):
        yield -upper_bound(key, schema), -lower_bound(key, schema), state.negative[key]
    if state.zero_count:
        low = -state.zero_threshold if state.negative else 0.0
        yield low, state.zero_threshold, state.zero_count
    for key in sorted(state.positive):
        yield lower_bound(key, schema), upper_bound(key, schema), state.positive[key]
