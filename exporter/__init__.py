"""aiexpense-exporter: Prometheus-native operation metrics, health and probes.

from exporter import MetricsCollector, HealthChecker, MonitoringHandler, Op

collector = MetricsCollector()
with collector.time(Op.CREATE_EXPENSE):
    ...
"""

from .collector import MetricsCollector
from .handler import MonitoringHandler
from .health import HealthChecker, HealthStatus
from .noop import NullCollector
from .operations import Op
from .stats import OperationStats, WindowStats
from .thresholds import Thresholds
from .timer import OperationTimer

__all__ = [
    "HealthChecker",
    "HealthStatus",
    "MetricsCollector",
    "MonitoringHandler",
    "NullCollector",
    "Op",
    "OperationStats",
    "OperationTimer",
    "Thresholds",
    "WindowStats",
]
