"""Health thresholds and sampler timings, each overridable by an environment variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

MB = 1_000_000  # the spec's "500MB" is decimal, like the Go service's output


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The spec's "Health Determination Logic", with its numbers as defaults."""

    interval_seconds: float = 5.0  # how often the sampler runs
    ping_timeout_seconds: float = 0.5  # SELECT 1 round trip
    checkout_timeout_seconds: float = 0.5  # waiting for a pool connection to ping with
    ping_failures: int = 2  # consecutive failed pings before the database counts as down
    stale_periods: float = 3.0  # a snapshot older than this many intervals: sampler stalled
    error_window_seconds: float = 300.0
    error_min_operations: int = 20  # below this volume the window's rate means nothing
    error_degraded_percent: float = 3.0
    error_unhealthy_percent: float = 5.0
    memory_degraded_mb: float = 300.0
    memory_unhealthy_mb: float = 500.0
    memory_limit_fraction: float = 0.9  # of a container's cgroup limit, when one is set
    liveness_stale_seconds: float = 10.0  # event-loop heartbeat older than this: not live

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Thresholds:
        """Read ``EXPORTER_HEALTH_<FIELD>``, e.g. ``EXPORTER_HEALTH_MEMORY_UNHEALTHY_MB=400``."""
        values = {}
        for field in fields(cls):
            key = env_name(field.name)
            if key in environ:
                values[field.name] = _cast(field.default, key, environ[key])
        return cls(**values)


def env_name(field: str) -> str:
    return f"EXPORTER_HEALTH_{field.upper()}"


def _cast(default: object, key: str, raw: str) -> float | int:
    kind = type(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a valid {kind.__name__}") from None
    if value < 0:
        raise ValueError(f"{key}={raw!r} must not be negative")
    return value
