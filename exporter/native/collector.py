"""A family of native histograms with labels, as a prometheus-client collector.

The stand-alone way to expose native histograms (the kit's operation and HTTP collectors
will hold :class:`~.histogram.NativeHistogram` s the same way)::

    requests = NativeHistogramCollector(
        "http_request_duration_seconds", "Time to answer.", ["route"],
        options=NativeOptions(bucket_factor=1.1), buckets=(0.1, 0.5, 1), registry=registry,
    )
    observe = requests.labels("/items").observe   # bind once: the hot path is one call
    observe(0.042)

Scraped with protobuf, each series is one native histogram (with the classic buckets
beside it); in text or OpenMetrics, the classic buckets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry

from .family import NativeHistogramFamily
from .histogram import NativeHistogram, NativeOptions, classic_bounds
from .state import NativeState


class NativeHistogramCollector:
    """Histograms named ``name`` keyed by ``labelnames`` values; ``buckets``: classic upper
    bounds kept beside the native buckets (empty: native only, the text formats then show
    ``+Inf``, ``_count`` and ``_sum``); ``registry``: registered there when given."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        options: NativeOptions | None = None,
        buckets: Sequence[float] = (),
        unit: str = "",
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if "le" in labelnames:
            raise ValueError("labelnames: 'le' is reserved for histogram buckets")
        self.name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._options = options or NativeOptions()
        self._buckets = classic_bounds(buckets)
        self._unit = unit
        self._clock = clock
        self._children: dict[tuple[str, ...], NativeHistogram] = {}
        self._lock = threading.Lock()
        NativeHistogramFamily(name, documentation, labelnames, unit)  # validates the names
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> NativeHistogram:
        """The series for these label values (created on first use); bind it once."""
        if len(values) != len(self._labelnames):
            raise ValueError(f"expected {len(self._labelnames)} label values, got {values!r}")
        child = self._children.get(values)
        if child is None:
            with self._lock:
                child = self._children.setdefault(
                    values, NativeHistogram(self._options, self._buckets, self._clock)
                )
        return child

    def describe(self) -> Iterable[Metric]:
        return [NativeHistogramFamily(self.name, self._documentation, self._labelnames, self._unit)]

    def collect(self) -> Iterable[Metric]:
        return [self.family(self.series())]

    def series(self) -> list[tuple[tuple[str, ...], NativeState]]:
        """Every series' label values and state now (what another process may merge)."""
        return [(values, child.snapshot()) for values, child in list(self._children.items())]

    def family(self, series: Iterable[tuple[Sequence[str], NativeState]]) -> NativeHistogramFamily:
        """A family of this collector's name, help and labels holding ``series``."""
        family = NativeHistogramFamily(self.name, self._documentation, self._labelnames, self._unit)
        for values, state in series:
            family.add_state(values, state)
        return family
