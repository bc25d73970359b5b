"""Health: checks run by a background sampler, judged worst-first, read by the probes.

``HealthChecker`` owns the sampler; ``checks`` holds the vocabulary a check speaks
(``CheckResult``, ``HealthStatus``, ``Measurement``, the ``HealthCheck`` protocol);
``builtin`` the checks every service gets (database, memory, error rate, event loop);
``thresholds`` their limits; ``views`` the JSON shapes the endpoints answer with.
"""

from .checker import GroupReport, HealthChecker, HealthReport
from .checks import CheckResult, HealthCheck, HealthStatus, Measurement
from .thresholds import Thresholds

__all__ = [
    "CheckResult",
    "GroupReport",
    "HealthCheck",
    "HealthChecker",
    "HealthReport",
    "HealthStatus",
    "Measurement",
    "Thresholds",
]
