"""Micro-benchmarks for issue 22's goals, as ratios (never absolute times):

- a native observation <= 1.3x a prometheus-client ``Histogram`` child's ``observe()``;
- a protobuf render <= 1.0x ``generate_latest`` (the text format) of the same registry;
- series per scrape, native only <= 0.2x classic.

Interleaved: each round times the candidate and its baseline back to back, so drift in
the machine's speed (other processes, frequency scaling) hits both; the ratio reported is
the median of the rounds' ratios. ``python -m exporter.native.bench`` prints them.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from .collector import NativeHistogramCollector
from .encoder import generate_protobuf
from .family import NativeCarrier
from .histogram import NativeOptions

# The kit's operation duration buckets (exporter.DEFAULT_BUCKETS has 14 bounds).
CLASSIC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True)
class Ratio:
    name: str
    candidate_us: float  # per call, median round
    baseline_us: float
    ratio: float  # median of the rounds' candidate/baseline

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.ratio:.2f}x "
            f"({self.candidate_us:.2f} us vs {self.baseline_us:.2f} us)"
        )


def interleaved(
    name: str,
    candidate: Callable[[], object],
    baseline: Callable[[], object],
    number: int,
    rounds: int = 15,
) -> Ratio:
    """Time ``number`` calls of each, alternately, ``rounds`` times."""
    times: tuple[list[float], list[float]] = ([], [])
    for r in range(rounds):
        pair = (candidate, baseline) if r % 2 == 0 else (baseline, candidate)
        for fn in pair:
            began = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = (time.perf_counter() - began) / number * 1e6
            times[0 if fn is candidate else 1].append(elapsed)
    ratios = [c / b for c, b in zip(*times, strict=True)]
    return Ratio(
        name,
        statistics.median(times[0]),
        statistics.median(times[1]),
        statistics.median(ratios),
    )


def observe_ratio(number: int = 20_000, rounds: int = 15, classic: bool = False) -> Ratio:
    """A bound native child's observe vs a bound classic child's, same values (durations
    spread over four orders of magnitude); ``classic``: the native one keeps the same
    classic buckets beside its native ones (issue 22's "both")."""
    registry = CollectorRegistry()
    values = [random.Random(7).lognormvariate(-5, 1.5) for _ in range(1024)]
    native = NativeHistogramCollector(
        "n_seconds", "N.", ["op"], options=NativeOptions(),
        buckets=CLASSIC_BUCKETS if classic else (), registry=registry,
    ).labels("op").observe  # fmt: skip
    baseline = (
        Histogram("c_seconds", "C.", ["op"], buckets=CLASSIC_BUCKETS, registry=registry)
        .labels("op")
        .observe
    )
    i = iter(range(1 << 62))

    def run_native() -> None:
        native(values[next(i) & 1023])

    def run_classic() -> None:
        baseline(values[next(i) & 1023])

    label = "observe, native + classic" if classic else "observe, native only"
    return interleaved(label, run_native, run_classic, number, rounds)


def operations_registry(operations: int, native: bool) -> CollectorRegistry:
    """The kit's core series for ``operations`` operations (2 counters + a duration
    histogram each, ~200 observations per operation); ``native``: the histogram keeps
    native buckets beside the classic ones."""
    registry = CollectorRegistry()
    total = Counter("app_operations", "Operations.", ["operation"], registry=registry)
    errors = Counter("app_operation_errors", "Errors.", ["operation"], registry=registry)
    observe: list[Callable[[float], None]]
    if native:
        histogram = NativeHistogramCollector(
            "app_operation_duration_seconds", "Duration.", ["operation"],
            buckets=CLASSIC_BUCKETS, registry=registry,
        )  # fmt: skip
        observe = [histogram.labels(f"op_{n}").observe for n in range(operations)]
    else:
        classic = Histogram(
            "app_operation_duration_seconds", "Duration.", ["operation"],
            buckets=CLASSIC_BUCKETS, registry=registry,
        )  # fmt: skip
        observe = [classic.labels(f"op_{n}").observe for n in range(operations)]
    rng = random.Random(3)
    for n in range(operations):
        total.labels(f"op_{n}").inc(200)
        errors.labels(f"op_{n}").inc(rng.randrange(5))
        for _ in range(200):
            observe[n](rng.lognormvariate(-5, 1.5))
    return registry


def render_ratio(operations: int = 28, number: int = 20, rounds: int = 15) -> Ratio:
    """Protobuf vs text render of the same registry (native + classic histograms): the
    protobuf body carries the native buckets too, the text one the classic only."""
    registry = operations_registry(operations, native=True)
    return interleaved(
        f"render, {operations} operations, protobuf vs text",
        lambda: generate_protobuf(registry),
        lambda: generate_latest(registry),
        number,
        rounds,
    )


def series_ratio(operations: int = 28) -> float:
    """Series per scrape for the duration histogram: native only (Prometheus stores a
    native histogram as one series) vs classic (a series per bucket, +Inf, _count, _sum;
    _created left out), counted from the families the registries collect."""
    duration = "app_operation_duration_seconds"
    classic = sum(
        1
        for family in operations_registry(operations, native=False).collect()
        if family.name == duration
        for sample in family.samples
        if not sample.name.endswith("_created")
    )
    registry = CollectorRegistry()
    native = NativeHistogramCollector(duration, "Duration.", ["operation"], registry=registry)
    for n in range(operations):
        native.labels(f"op_{n}").observe(0.01)
    native_series = sum(
        len(family.native) for family in registry.collect() if isinstance(family, NativeCarrier)
    )
    return native_series / classic


def main() -> None:
    for ratio in (observe_ratio(), observe_ratio(classic=True), render_ratio()):
        print(ratio)
    print(f"series per scrape, native only vs classic: {series_ratio():.2f}x")


if __name__ == "__main__":
    main()
