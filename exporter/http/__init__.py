"""HTTP request metrics for any Starlette or FastAPI app: the middleware, its naming
schemes (the kit's, OpenTelemetry's), its options and its bounded custom labels.

    from exporter import HttpMetricsMiddleware, header_label
    app.add_middleware(HttpMetricsMiddleware, collector=collector, names="otel",
                       labels={"tenant": header_label("x-tenant", allowed={"a", "b"})})
"""

from .labels import Label, header_label, path_label, scope_label
from .middleware import HttpMetricsMiddleware
from .naming import HTTP_BUCKETS, OTEL_BUCKETS, SIZE_BUCKETS
from .options import HttpOptions

__all__ = [
    "HTTP_BUCKETS",
    "OTEL_BUCKETS",
    "SIZE_BUCKETS",
    "HttpMetricsMiddleware",
    "HttpOptions",
    "Label",
    "header_label",
    "path_label",
    "scope_label",
]
