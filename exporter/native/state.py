"""A histogram's state at one instant: immutable, mergeable, what the encoder renders.

:class:`NativeState` holds a native histogram (schema, zero bucket, sparse positive and
negative buckets) and, when classic buckets are configured beside it, their counts, plus
count, sum, the exemplars and when the histogram was created (or last reset). Several
workers' states of one series add up with :meth:`NativeState.merge`: states of different
schemas are first reduced to the coarser one (two neighbouring buckets merge per step, as
Prometheus does when it adds histograms), and zero buckets of different widths are
reconciled by widening the narrower one until it ends on a bucket boundary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from prometheus_client.samples import Exemplar

from .schema import lower_bound, reduce_key, upper_bound


@dataclass(frozen=True, slots=True)
class NativeState:
    """One histogram series' counts. ``positive``/``negative``: bucket index -> count (no
    zero counts); ``classic_bounds``: the classic upper bounds without +Inf (empty: no
    classic buckets); ``classic_counts``: per classic bucket, not cumulative, the last one
    the +Inf bucket (``len(classic_bounds) + 1`` entries, or none); ``exemplars``: one slot
    per classic bucket (the +Inf bucket's alone when there are no classic buckets)."""

    schema: int
    zero_threshold: float
    count: int = 0
    sum: float = 0.0
    zero_count: int = 0
    positive: Mapping[int, int] = field(default_factory=dict)
    negative: Mapping[int, int] = field(default_factory=dict)
    classic_bounds: tuple[float, ...] = ()
    classic_counts: tuple[int, ...] = ()
    exemplars: tuple[Exemplar | None, ...] = (None,)
    created: float = 0.0  # epoch seconds

    @property
    def bucket_count(self) -> int:
        """How many sparse buckets are populated."""
        return len(self.positive) + len(self.negative)

    def cumulative_classic(self) -> list[int]:
        """The classic buckets' cumulative counts, the last one the +Inf bucket's."""
        total, out = 0, []
        for n in self.classic_counts:
            total += n
            out.append(total)
        return out

    def reduced_to(self, schema: int) -> NativeState:
        """This state at the coarser ``schema`` (itself when it already is)."""
        if schema > self.schema:
            raise ValueError(f"cannot refine schema {self.schema} to {schema}")
        if schema == self.schema:
            return self
        steps = self.schema - schema
        return replace(
            self,
            schema=schema,
            positive=_reduce(self.positive, steps),
            negative=_reduce(self.negative, steps),
        )

    def widened_to(self, threshold: float) -> NativeState:
        """This state with a zero bucket at least ``threshold`` wide: buckets reaching below
        it are folded into the zero bucket, and the threshold grows to the upper bound of the
        last bucket folded (a threshold must not cut a bucket in two)."""
        if threshold <= self.zero_threshold:
            return self
        positive, negative = dict(self.positive), dict(self.negative)
        zero_count = self.zero_count
        for key in sorted({*positive, *negative}):
            if not lower_bound(key, self.schema) < threshold:
                break
            zero_count += positive.pop(key, 0) + negative.pop(key, 0)
            threshold = max(threshold, upper_bound(key, self.schema))
        return replace(
            self,
            zero_threshold=threshold,
            zero_count=zero_count,
            positive=positive,
            negative=negative,
        )

    def merge(self, other: NativeState) -> NativeState:
        """The sum of two states of the same series (e.g. two workers'); classic buckets must
        match; per exemplar slot the newer exemplar wins."""
        if self.classic_bounds != other.classic_bounds:
            raise ValueError("cannot merge histograms with different classic buckets")
        schema = min(self.schema, other.schema)
        threshold = max(self.zero_threshold, other.zero_threshold)
        a = self.reduced_to(schema).widened_to(threshold)
        b = other.reduced_to(schema).widened_to(threshold)
        if a.zero_threshold != b.zero_threshold:  # one widened past the other: catch up
            threshold = max(a.zero_threshold, b.zero_threshold)
            a, b = a.widened_to(threshold), b.widened_to(threshold)
        return NativeState(
            schema=schema,
            zero_threshold=a.zero_threshold,
            count=a.count + b.count,
            sum=a.sum + b.sum,
            zero_count=a.zero_count + b.zero_count,
            positive=_add(a.positive, b.positive),
            negative=_add(a.negative, b.negative),
            classic_bounds=a.classic_bounds,
            classic_counts=tuple(map(int.__add__, a.classic_counts, b.classic_counts)),
            exemplars=tuple(map(_newer, a.exemplars, b.exemplars)),
            created=min(a.created, b.created),
        )


def _reduce(buckets: Mapping[int, int], steps: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for key, count in buckets.items():
        target = reduce_key(key, steps)
        out[target] = out.get(target, 0) + count
    return out


def _add(a: Mapping[int, int], b: Mapping[int, int]) -> dict[int, int]:
    out = dict(a)
    for key, count in b.items():
        out[key] = out.get(key, 0) + count
    return out


def _newer(a: Exemplar | None, b: Exemplar | None) -> Exemplar | None:
    if a is None or b is None:
        return a or b
    return b if _seconds(b) > _seconds(a) else a


def _seconds(exemplar: Exemplar) -> float:
    return -math.inf if exemplar.timestamp is None else float(exemplar.timestamp)


def difference(new: NativeState, old: NativeState | None) -> NativeState:
    """What ``new`` counted since ``old`` (an earlier state of the same series): a window.

    Both are brought to the coarser schema and the wider zero bucket first (a histogram may
    have halved its resolution in between); a count that went backwards (a reset in
    between) leaves ``new`` as it is, as PromQL's ``increase`` treats a counter reset."""
    if old is None or old.count == 0:
        return new
    if new.count < old.count or new.classic_bounds != old.classic_bounds:
        return new
    schema = min(new.schema, old.schema)
    threshold = max(new.zero_threshold, old.zero_threshold)
    a = new.reduced_to(schema).widened_to(threshold)
    b = old.reduced_to(schema).widened_to(a.zero_threshold).widened_to(threshold)
    if b.zero_threshold > a.zero_threshold:
        a = a.widened_to(b.zero_threshold)
    return replace(
        a,
        count=a.count - b.count,
        sum=a.sum - b.sum,
        zero_count=max(0, a.zero_count - b.zero_count),
        positive=_subtract(a.positive, b.positive),
        negative=_subtract(a.negative, b.negative),
        classic_counts=tuple(map(int.__sub__, a.classic_counts, b.classic_counts)),
    )


def _subtract(a: Mapping[int, int], b: Mapping[int, int]) -> dict[int, int]:
    out = {}
    for key, count in a.items():
        left = count - b.get(key, 0)
        if left > 0:
            out[key] = left
    return out
