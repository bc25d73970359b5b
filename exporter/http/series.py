"""The HTTP series of one middleware: created in the collector's registry under a naming
scheme, and each label combination's children bound once and cached (``record``).

A record key is ``(method, route, status, url scheme, *custom label values)``; every part
is bounded (a known method or the scheme's "other", a route template, the status the app
sent, two URL schemes, allow-listed custom values), so the cache is too.
"""

from __future__ import annotations

from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.utils import floatToGoString

from .._readback import exemplar_buckets, histogram_incs, plain_values, value_inc
from .._shared_native import KeptExemplars
from ..native.collector import NativeHistogramCollector
from ..native.histogram import NativeHistogram
from .naming import METHODS, URL_SCHEMES
from .options import HttpOptions, status_label

Key = tuple[Any, ...]  # (method, route, status, url scheme, *custom)


class HasRegistry(Protocol):
    """What the middleware needs of a collector: where to register, and under what name."""

    @property
    def registry(self) -> CollectorRegistry: ...

    @property
    def namespace(self) -> str: ...


class Bound:
    """One label combination's children, reached through their values (``_readback``):
    ``count(1)`` (None when the scheme has no counter), ``add(seconds)`` to the duration's
    sum, ``buckets[i](1)`` for the first bucket whose bound is >= the duration (``bounds``),
    ``exemplars`` the buckets to set a trace on (None where none are kept), and the body
    size histograms' ``observe`` (None unless ``body_sizes``). In one process ``plain``
    holds the same values themselves (count or None, sum, buckets), for the middleware to
    write under its one lock (see ``_readback``)."""

    __slots__ = ("add", "bounds", "buckets", "count", "exemplars", "kept", "observe", "plain",
                 "request_size", "response_size")  # fmt: skip

    def __init__(
        self, counter: Any, duration: Any, sizes: tuple[Any, Any], kept: KeptExemplars | None
    ) -> None:
        self.count = None if counter is None else value_inc(counter)
        self.request_size, self.response_size = sizes
        self.kept: list[Any] | None = None
        self.exemplars: tuple[Any, ...] | None = None
        self.plain: tuple[Any, Any, tuple[Any, ...]] | None = None
        if isinstance(duration, NativeHistogram):  # ``observe(seconds, trace)`` does it all
            self.observe: Any = duration.observe
            return
        self.observe = None
        self.add, self.buckets, self.bounds = histogram_incs(duration)
        values = plain_values(duration) if counter is None else plain_values(counter, duration)
        if values is not None:
            count = None if counter is None else values[0]
            rest = values if counter is None else values[1:]
            self.plain = (count, rest[0], rest[1:])
        self.exemplars = exemplar_buckets(duration)
        if self.exemplars is None and kept is not None:  # several workers
            labels = dict(zip(duration._labelnames, duration._labelvalues, strict=True))
            les = [floatToGoString(b) for b in self.bounds]
            self.kept = kept.slots(duration._name + "_bucket", labels, les)


class Series:
    """The middleware's metrics, and ``bound(key)``: that combination's children."""

    def __init__(self, collector: HasRegistry, options: HttpOptions) -> None:
        self.options = o = options
        s = o.scheme
        registry, ns = collector.registry, collector.namespace
        custom = o.label_names
        self._status = status_label(o.status)
        self._requests = None
        if s.requests is not None:
            self._requests = Counter(
                s.name(ns, s.requests),
                "HTTP requests answered, by method, route template and status.",
                (s.method, s.route, s.status, *custom),
                registry=registry,
            )
        labels = (*s.route_labels(), *custom)
        self._kept: KeptExemplars | None = getattr(collector, "kept_exemplars", None)
        self._duration = self._histogram(
            s.name(ns, s.duration),
            "Time from a request's arrival to the end of its response's last body chunk.",
            labels, registry, o.buckets,
        )  # fmt: skip
        self._sizes: tuple[Any, Any] | None = None
        if o.body_sizes:
            self._sizes = (
                self._histogram(s.name(ns, s.request_size), "Size of HTTP request bodies.",
                                labels, registry, o.size_buckets),
                self._histogram(s.name(ns, s.response_size), "Size of HTTP response bodies.",
                                labels, registry, o.size_buckets),
            )  # fmt: skip
        in_progress = Gauge(
            s.name(ns, s.in_progress),
            "HTTP requests being served right now.",
            s.gauge_labels(),
            registry=registry,
            multiprocess_mode="livesum",
        )
        methods = (*METHODS, s.other_method)
        if s.url_scheme:
            schemes = (*URL_SCHEMES, "other")
            self.gauges: dict[Any, Any] = {
                (m, u): in_progress.labels(m, u) for m in methods for u in schemes
            }
        else:
            self.gauges = {m: in_progress.labels(m) for m in methods}
        self.bound: dict[Key, Bound] = {}

    def _histogram(
        self,
        name: str,
        documentation: str,
        labels: tuple[str, ...],
        registry: CollectorRegistry,
        buckets: tuple[float, ...],
    ) -> Any:
        """A prometheus-client ``Histogram``, or a native one (``histogram`` option)."""
        o = self.options
        if o.histogram == "classic":
            return Histogram(name, documentation, labels, registry=registry, buckets=buckets)
        return NativeHistogramCollector(
            name, documentation, labels, options=o.native, registry=registry,
            buckets=buckets if o.histogram == "both" else (),
        )  # fmt: skip

    def bind(self, key: Key) -> Bound:
        """The children of ``key``, bound on first use and kept in ``bound``."""
        found = self.bound.get(key)
        if found is None:
            found = self.bound[key] = self._bind(key)
        return found

    def _bind(self, key: Key) -> Bound:
        method, route, code, url_scheme, *custom = key
        s = self.options.scheme
        status = self._status(code)
        counter = None
        if self._requests is not None:
            counter = self._requests.labels(method, route, status, *custom)
        if s.requests is not None:
            values: tuple[str, ...] = (method, route)
        else:
            error = status if code >= 500 else ""
            values = (method, route, status, url_scheme, error)
        values = (*values, *custom)
        sizes: tuple[Any, Any] = (None, None)
        if self._sizes is not None:
            sizes = (self._sizes[0].labels(*values).observe, self._sizes[1].labels(*values).observe)
        return Bound(counter, self._duration.labels(*values), sizes, self._kept)
