"""Native histograms (issue 22): what they cost on the hot path and at a scrape, and what
they save in series, each beside the kit's classic counterpart as its floor.

``kit.series_native_only`` is a count, not a time: it "takes" its series count per loop, so
its ratio to ``kit.series_classic`` is the ratio of series per scrape Prometheus stores for
the operation duration histogram over the service's catalog of operations.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from prometheus_client import CollectorRegistry, generate_latest

from aiexpense.domain.operations import Op
from exporter import MetricsCollector
from exporter.native import NativeCarrier, generate_protobuf

from . import kit_cases

DURATION = "operation_duration_seconds"


def _record(histogram: str) -> Callable[[int], float]:
    def case(loops: int) -> float:
        collector = MetricsCollector(histogram=histogram, process_metrics=False)
        return kit_cases.kit_record(loops, collector)

    return case


def _filled(histogram: str) -> CollectorRegistry:
    collector = MetricsCollector(histogram=histogram)
    for i, name in enumerate(Op.all()):
        for n in range(50):
            collector.record_operation(name, 0.0001 * (i + n) * (1 + n % 7))
    return collector.registry


def _render(encoder: Callable[[CollectorRegistry], bytes]) -> Callable[[int], float]:
    def case(loops: int) -> float:
        registry = _filled("both")
        start = perf_counter()
        for _ in range(loops):
            encoder(registry)
        return perf_counter() - start

    return case


def series(histogram: str) -> int:
    """Series of the duration histogram Prometheus stores from one scrape."""
    count = 0
    for family in _filled(histogram).collect():
        if family.name != DURATION:
            continue
        if histogram == "native" and isinstance(family, NativeCarrier):
            count += len(family.native)  # one native histogram series each
        else:
            count += sum(1 for s in family.samples if not s.name.endswith("_created"))
    return count


def _count(histogram: str) -> Callable[[int], float]:
    def case(loops: int) -> float:
        return float(series(histogram) * loops)

    return case


CASES: dict[str, tuple[Callable[[int], float], str | None]] = {
    "kit.record_native": (_record("native"), "kit.record_classic"),
    "kit.record_both": (_record("both"), "kit.record_classic"),
    "kit.record_classic": (_record("classic"), None),
    "kit.render_protobuf": (_render(generate_protobuf), "kit.render_text_same"),
    "kit.render_text_same": (_render(generate_latest), None),
    "kit.series_native_only": (_count("native"), "kit.series_classic"),
    "kit.series_classic": (_count("classic"), None),
}
