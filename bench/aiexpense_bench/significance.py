"""Whether a benchmark's data can decide a goal, and which way.

A goal ("at most 1.3x the floor", "an error rate under 0.1%") is judged on a 90 % confidence
interval of the measured figure, which is a one-sided test at 5 % each way: PASS when the
whole interval meets the goal, FAIL when none of it does, and *not judged* when it straddles
the limit or when there are too few samples for any interval to mean something. A run that
cannot reach significance therefore never passes or fails a goal.

- Medians and ratios of medians (pyperf's values): percentile bootstrap (scipy), at least
  ``MIN_VALUES`` values a side.
- Proportions (errors of requests, cache hits of lookups): Clopper-Pearson exact interval.
- Paired rounds (instrumentation on vs off, alternated): Wilcoxon signed-rank exact test of
  the per-round ratios against the limit, one-sided each way; it needs at least 5 rounds to
  reach p < 0.05 at all.
- Percentile ratios from latency histograms: bootstrap of the recorded counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, bootstrap, wilcoxon

ALPHA = 0.05  # each side: a 90 % two-sided interval
MIN_VALUES = 10
MIN_ROUNDS = 5
RESAMPLES = 2000
_SEED = 20  # the same data always gives the same verdict


@dataclass(frozen=True, slots=True)
class Verdict:
    """``passed``: True/False when judged, None when not; ``reason`` says on what."""

    passed: bool | None
    reason: str

    @property
    def judged(self) -> bool:
        return self.passed is not None


def not_judged(reason: str) -> Verdict:
    return Verdict(None, reason)


def against(low: float, high: float, limit: float, *, at_most: bool, what: str) -> Verdict:
    """Judge the interval [low, high] against ``limit`` (``at_most``: the goal is <= limit,
    else >= limit). ``what`` describes the interval for the reason."""
    interval = f"{what} 90% CI {_g(low)}-{_g(high)}"
    good, bad = (high <= limit, low > limit) if at_most else (low >= limit, high < limit)
    if good:
        return Verdict(True, interval)
    if bad:
        return Verdict(False, interval)
    return not_judged(f"{interval} straddles {_g(limit)}")


def _g(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 0.01 or x == 0 else f"{x:.2e}"


def _bootstrap(
    samples: tuple[Sequence[float], ...], statistic: Callable[..., np.ndarray]
) -> tuple[float, float]:
    result = bootstrap(
        tuple(np.asarray(s, dtype=float) for s in samples),
        statistic,
        confidence_level=1 - 2 * ALPHA,
        n_resamples=RESAMPLES,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(_SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


def _median_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis) / np.median(b, axis=axis)


def median_at_most(values: Sequence[float], limit: float, *, unit: float = 1e-6) -> Verdict:
    """Is the median of ``values`` (seconds) <= ``limit``? The reason shows ``unit``s (us)."""
    if len(values) < MIN_VALUES:
        return not_judged(f"{len(values)} values, fewer than {MIN_VALUES}")
    low, high = _bootstrap((values,), _median)
    name = {1e-6: "us", 1e-3: "ms"}.get(unit, "s")
    return against(low / unit, high / unit, limit / unit, at_most=True, what=f"median {name}")


def ratio_at_most(values: Sequence[float], floor: Sequence[float], limit: float) -> Verdict:
    """Is median(values) / median(floor) <= ``limit``? Independent samples."""
    n = min(len(values), len(floor))
    if n < MIN_VALUES:
        return not_judged(f"{n} values a side, fewer than {MIN_VALUES}")
    low, high = _bootstrap((values, floor), _median_ratio)
    return against(low, high, limit, at_most=True, what="ratio")


def added_at_most(values: Sequence[float], floor: Sequence[float], limit: float) -> Verdict:
    """Is median(values) - median(floor) <= ``limit`` seconds? Independent samples."""
    n = min(len(values), len(floor))
    if n < MIN_VALUES:
        return not_judged(f"{n} values a side, fewer than {MIN_VALUES}")
    low, high = _bootstrap((values, floor), _median_difference)
    return against(low * 1e6, high * 1e6, limit * 1e6, at_most=True, what="added us")


def added_share_at_most(
    ours: Sequence[float], theirs: Sequence[float], floor: Sequence[float], limit: float
) -> Verdict:
    """Is what ``ours`` adds over ``floor`` at most ``limit`` times what ``theirs`` adds?"""
    n = min(len(ours), len(theirs), len(floor))
    if n < MIN_VALUES:
        return not_judged(f"{n} values a side, fewer than {MIN_VALUES}")
    low, high = _bootstrap((ours, theirs, floor), _added_share)
    return against(low, high, limit, at_most=True, what="share of the reference's added cost")


def _median_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis) - np.median(b, axis=axis)


def _added_share(a: np.ndarray, b: np.ndarray, f: np.ndarray, axis: int = -1) -> np.ndarray:
    floor = np.median(f, axis=axis)
    return (np.median(a, axis=axis) - floor) / (np.median(b, axis=axis) - floor)


def proportion(successes: int, trials: int, limit: float, *, at_most: bool) -> Verdict:
    """Is the rate ``successes / trials`` (a fraction) <= (or >=) ``limit``?"""
    if trials <= 0:
        return not_judged("no trials")
    ci = binomtest(successes, trials).proportion_ci(1 - 2 * ALPHA, method="exact")
    low, high = 100 * ci.low, 100 * ci.high
    return against(low, high, 100 * limit, at_most=at_most, what=f"{trials:,} trials, % ")


def paired_ratio_at_least(on: Sequence[float], off: Sequence[float], limit: float) -> Verdict:
    """Is on_i / off_i >= ``limit`` in the rounds (paired, as they alternate)? Wilcoxon
    signed-rank on log(on/off) - log(limit), exact, one-sided each way."""
    if len(on) < MIN_ROUNDS:
        return not_judged(f"{len(on)} rounds, fewer than {MIN_ROUNDS}: p < 0.05 is unreachable")
    d = [math.log(a / b) - math.log(limit) for a, b in zip(on, off, strict=True)]
    ratios = sorted(a / b for a, b in zip(on, off, strict=True))
    shown = f"{len(d)} rounds, on/off {_g(ratios[0])}-{_g(ratios[-1])}"
    if all(x == 0 for x in d):
        return not_judged(f"{shown}: every round exactly at {_g(limit)}")
    p_pass = float(wilcoxon(d, alternative="greater", method="exact").pvalue)
    p_fail = float(wilcoxon(d, alternative="less", method="exact").pvalue)
    if p_pass < ALPHA:
        return Verdict(True, f"{shown}, Wilcoxon p={p_pass:.3f}")
    if p_fail < ALPHA:
        return Verdict(False, f"{shown}, Wilcoxon p={p_fail:.3f}")
    return not_judged(f"{shown}, Wilcoxon p={min(p_pass, p_fail):.3f} either way")


def rounds_at_most(values: Sequence[float], limit: float, *, unit: str = "") -> Verdict:
    """Is each round's figure (a p99, say) <= ``limit``? Wilcoxon signed-rank on
    log(value) - log(limit) over the rounds, exact, one-sided each way: rounds, not
    requests, are the independent samples (requests within a round share its moment)."""
    if len(values) < MIN_ROUNDS:
        return not_judged(f"{len(values)} rounds, fewer than {MIN_ROUNDS}: p < 0.05 is unreachable")
    d = [math.log(v) - math.log(limit) for v in values]
    shown = f"{len(d)} rounds, {_g(min(values))}-{_g(max(values))}{unit}"
    if all(x == 0 for x in d):
        return not_judged(f"{shown}: every round exactly at {_g(limit)}")
    p_pass = float(wilcoxon(d, alternative="less", method="exact").pvalue)
    p_fail = float(wilcoxon(d, alternative="greater", method="exact").pvalue)
    if p_pass < ALPHA:
        return Verdict(True, f"{shown}, Wilcoxon p={p_pass:.3f}")
    if p_fail < ALPHA:
        return Verdict(False, f"{shown}, Wilcoxon p={p_fail:.3f}")
    return not_judged(f"{shown}, Wilcoxon p={min(p_pass, p_fail):.3f} either way")


Histogram = tuple[Sequence[float], Sequence[int]]  # distinct values, their counts


def _resampled(
    histogram: Histogram, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """(values, RESAMPLES x len(values) counts drawn anew, n): the bootstrap of the requests a
    histogram recorded is a multinomial draw of its counts."""

    values, counts = np.asarray(histogram[0], dtype=float), np.asarray(histogram[1], dtype=float)
    n = int(counts.sum())
    return values, rng.multinomial(n, counts / n, size=RESAMPLES), n


def _quantiles(histogram: Histogram, q: float, rng: np.random.Generator) -> np.ndarray:

    values, draws, n = _resampled(histogram, rng)
    below = (np.cumsum(draws, axis=1) < math.ceil(q * n)).sum(axis=1)
    return values[np.minimum(below, len(values) - 1)]


def quantile_ratio_at_most(a: Histogram, b: Histogram, q: float, limit: float) -> Verdict:
    """Is quantile ``q`` of histogram ``a`` / that of ``b`` <= ``limit``?"""

    n = min(int(sum(a[1])), int(sum(b[1])))
    if n * (1 - q) < MIN_VALUES:  # a p99 needs some observations above it
        return not_judged(f"{n} requests, too few for a p{100 * q:g}")
    rng = np.random.default_rng(_SEED)
    ratio = _quantiles(a, q, rng) / _quantiles(b, q, rng)
    low, high = np.quantile(ratio, [ALPHA, 1 - ALPHA])
    return against(float(low), float(high), limit, at_most=True, what="ratio")


def mean_at_most(histogram: Histogram, limit: float) -> Verdict:
    """Is the mean of what ``histogram`` recorded <= ``limit`` (in its units)?"""

    if sum(histogram[1]) < MIN_VALUES:
        return not_judged(f"{int(sum(histogram[1]))} requests, fewer than {MIN_VALUES}")
    values, draws, n = _resampled(histogram, np.random.default_rng(_SEED))
    low, high = np.quantile(draws @ values / n, [ALPHA, 1 - ALPHA])
    return against(float(low), float(high), limit, at_most=True, what="mean")
