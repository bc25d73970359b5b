"""Prometheus-native operation metrics, health and probes for any Starlette or FastAPI app.

from exporter import MetricsCollector, HealthChecker, MonitoringHandler

collector = MetricsCollector(namespace="myapp")
with collector.time("create_order"):
    ...
"""

from .collector import DEFAULT_BUCKETS, MetricsCollector
from .errors import JSON_ERRORS
from .exemplars import current_exemplar, parse_traceparent
from .handler import MonitoringHandler, ShowDetails
from .health import (
    CheckResult,
    HealthCheck,
    HealthChecker,
    HealthStatus,
    Measurement,
    Thresholds,
)
from .http import (
    HTTP_BUCKETS,
    OTEL_BUCKETS,
    HttpMetricsMiddleware,
    HttpOptions,
    Label,
    header_label,
    path_label,
    scope_label,
)
from .native import NativeOptions
from .noop import NullCollector
from .recorder import MetricsSource, Recorder
from .stats import HistoryPoint, OperationStats, WindowStats
from .timer import OperationTimer

__all__ = [
    "DEFAULT_BUCKETS",
    "HTTP_BUCKETS",
    "JSON_ERRORS",
    "OTEL_BUCKETS",
    "CheckResult",
    "HealthCheck",
    "HealthChecker",
    "HealthStatus",
    "HistoryPoint",
    "HttpMetricsMiddleware",
    "HttpOptions",
    "Label",
    "Measurement",
    "MetricsCollector",
    "MetricsSource",
    "MonitoringHandler",
    "NativeOptions",
    "NullCollector",
    "OperationStats",
    "OperationTimer",
    "Recorder",
    "ShowDetails",
    "Thresholds",
    "WindowStats",
    "current_exemplar",
    "header_label",
    "parse_traceparent",
    "path_label",
    "scope_label",
]
