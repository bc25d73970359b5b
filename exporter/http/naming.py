"""Naming schemes for the HTTP series: the kit's own (the default) and OpenTelemetry's.

``KIT`` (``names="kit"``), under the collector's namespace:
- ``<ns>_http_requests_total{method,route,status}``
- ``<ns>_http_request_duration_seconds{method,route}``
- ``<ns>_http_requests_in_progress{method}``
- with ``body_sizes=True``: ``<ns>_http_request_size_bytes{method,route}`` and
  ``<ns>_http_response_size_bytes{method,route}``

``OTEL`` (``names="otel"``): OpenTelemetry's stable HTTP server conventions as its
Prometheus exporter renders them (dots become underscores, the unit a suffix, no
namespace), so a dashboard built on OpenTelemetry's series works unchanged:
- ``http_server_request_duration_seconds{http_request_method,http_route,
  http_response_status_code,url_scheme,error_type}`` (``http.server.request.duration``,
  unit ``s``, the convention's advised buckets 0.005 .. 10); the request count is its
  ``_count``. ``error_type`` is the status code for a 5xx and empty otherwise (an empty
  label is an absent one to PromQL, as the convention wants it only on errors).
- ``http_server_active_requests{http_request_method,url_scheme}``
- with ``body_sizes=True``: ``http_server_request_body_size_bytes`` and
  ``http_server_response_body_size_bytes``, labelled as the duration.
An unknown method is ``_OTHER``; an unmatched request has an empty ``http_route`` (the
convention: no route when the framework has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .._names import metric_name

# 1 ms .. 10 s: a cached read through a slow upstream call.
HTTP_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# OpenTelemetry's advised boundaries for http.server.request.duration (semantic conventions,
# "HTTP metrics": ExplicitBucketBoundaries [0.005 .. 10]).
OTEL_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
# Body sizes, 64 B .. 16 MiB in powers of four.
SIZE_BUCKETS: Final = tuple(float(4**n) for n in range(3, 13))
METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
URL_SCHEMES: Final = ("http", "https")


@dataclass(frozen=True, slots=True)
class Scheme:
    """What the series of one naming scheme are called and how their labels read."""

    key: str
    requests: str | None  # the request counter, or None when the histogram's _count is it
    duration: str
    in_progress: str
    request_size: str
    response_size: str
    method: str
    route: str
    status: str
    url_scheme: str | None  # label of the URL scheme, if the scheme has one
    error: str | None  # label set to the status on a 5xx, if the scheme has one
    other_method: str
    unmatched: str
    buckets: tuple[float, ...]
    namespaced: bool

    def name(self, namespace: str, name: str) -> str:
        return metric_name(namespace, name) if self.namespaced else name

    def route_labels(self) -> tuple[str, ...]:
        """The labels of every per-request series but the counter, in order."""
        if self.requests is not None:
            return (self.method, self.route)
        extra = tuple(x for x in (self.url_scheme, self.error) if x)
        return (self.method, self.route, self.status, *extra)

    def gauge_labels(self) -> tuple[str, ...]:
        return (self.method, self.url_scheme) if self.url_scheme else (self.method,)


KIT: Final = Scheme(
    key="kit",
    requests="http_requests",
    duration="http_request_duration_seconds",
    in_progress="http_requests_in_progress",
    request_size="http_request_size_bytes",
    response_size="http_response_size_bytes",
    method="method",
    route="route",
    status="status",
    url_scheme=None,
    error=None,
    other_method="OTHER",
    unmatched="unmatched",
    buckets=HTTP_BUCKETS,
    namespaced=True,
)

OTEL: Final = Scheme(
    key="otel",
    requests=None,
    duration="http_server_request_duration_seconds",
    in_progress="http_server_active_requests",
    request_size="http_server_request_body_size_bytes",
    response_size="http_server_response_body_size_bytes",
    method="http_request_method",
    route="http_route",
    status="http_response_status_code",
    url_scheme="url_scheme",
    error="error_type",
    other_method="_OTHER",
    unmatched="",
    buckets=OTEL_BUCKETS,
    namespaced=False,
)

NAMINGS: Final = {s.key: s for s in (KIT, OTEL)}
