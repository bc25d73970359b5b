"""Prometheus-native operation metrics, health and probes for any Starlette or FastAPI app.

from exporter import MetricsCollector, HealthChecker, MonitoringHandler

collector = MetricsCollector(namespace="myapp")
with collector.time("create_order"):
    ...
"""

from .checks import CheckResult, HealthCheck, Measurement
from .collector import DEFAULT_BUCKETS, MetricsCollector
from .errors import JSON_ERRORS
from .handler import MonitoringHandler, ShowDetails
from .health import HealthChecker, HealthStatus
from .noop import NullCollector
from .recorder import Recorder
from .stats import HistoryPoint, OperationStats, WindowStats
from .thresholds import Thresholds
from .timer import OperationTimer

__all__ = [
    "DEFAULT_BUCKETS",
    "JSON_ERRORS",
    "CheckResult",
    "HealthCheck",
    "HealthChecker",
    "HealthStatus",
    "HistoryPoint",
    "Measurement",
    "MetricsCollector",
    "MonitoringHandler",
    "NullCollector",
    "OperationStats",
    "OperationTimer",
    "Recorder",
    "ShowDetails",
    "Thresholds",
    "WindowStats",
]
