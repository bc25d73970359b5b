"""Prometheus-native operation metrics, health and probes for any Starlette or FastAPI app.

from exporter import MetricsCollector, HealthChecker, MonitoringHandler

collector = MetricsCollector(namespace="myapp")
with collector.time("create_order"):
    ...
"""

from .collector import DEFAULT_BUCKETS, MetricsCollector
from .errors import JSON_ERRORS
from .exemplars import current_exemplar, parse_traceparent
from .handler import MonitoringHandler
from .health import HealthChecker, HealthStatus
from .middleware import HTTP_BUCKETS, HttpMetricsMiddleware
from .noop import NullCollector
from .stats import OperationStats, WindowStats
from .thresholds import Thresholds
from .timer import OperationTimer

__all__ = [
    "DEFAULT_BUCKETS",
    "HTTP_BUCKETS",
    "JSON_ERRORS",
    "HealthChecker",
    "HealthStatus",
    "HttpMetricsMiddleware",
    "MetricsCollector",
    "MonitoringHandler",
    "NullCollector",
    "OperationStats",
    "OperationTimer",
    "Thresholds",
    "WindowStats",
    "current_exemplar",
    "parse_traceparent",
]
