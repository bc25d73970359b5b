"""Health thresholds and sampler timings: the spec's numbers as defaults, passed in."""

from __future__ import annotations

from dataclasses import dataclass

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
