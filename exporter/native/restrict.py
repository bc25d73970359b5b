"""``?name[]=`` filtering that keeps native histograms whole.

prometheus-client's ``restricted_registry`` rebuilds every family it keeps from its samples
(``Metric._restricted_metric``), which drops the ``native`` series a
:class:`~.family.NativeCarrier` holds. :class:`Restricted` picks the same collectors (those
registered under a wanted name, and those that describe no names) and keeps a carrier as it
is when any of its names is wanted, filtering other families sample by sample as
prometheus-client does.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .family import NativeCarrier

_SUFFIXES = ("", "_bucket", "_count", "_sum", "_created")


class Restricted(Collector):
    """The families of ``registry`` with a sample named in ``names``."""

    def __init__(self, registry: Collector, names: Iterable[str]) -> None:
        self._registry = registry
        self._names = frozenset(names)

    def collect(self) -> Iterable[Metric]:
        for family in self._families():
            if isinstance(family, NativeCarrier):
                if any(family.name + suffix in self._names for suffix in _SUFFIXES):
                    yield family
                continue
            kept = family._restricted_metric(self._names)
            if kept is not None:
                yield kept

    def _families(self) -> Iterable[Metric]:
        registry = self._registry
        if not isinstance(registry, CollectorRegistry):
            yield from registry.collect()
            return
        with registry._lock:
            collectors = set(registry._collectors_without_names)
            collectors.update(
                registry._names_to_collectors[n]
                for n in self._names
                if n in registry._names_to_collectors
            )
        for collector in collectors:
            yield from collector.collect()
