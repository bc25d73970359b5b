"""Health thresholds and sampler timings: the spec's numbers as defaults, passed in.

``Thresholds`` checks its own fields when it is built: a value that would make the sampler
spin (``interval_seconds=0``), freeze (``inf``), crash (``nan``) or flap is a ``ValueError``
whose message starts with the field's name (``interval_seconds: must be ...``), so a
configuration layer can put the name of its own setting in front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

MB = 1_000_000  # the spec's "500MB" is decimal, like the Go service's output

# The heartbeat task beats once a second; a liveness limit near that would flap.
HEARTBEAT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The spec's "Health Determination Logic", with its numbers as defaults."""

    interval_seconds: float = 5.0  # pause between sampler rounds
    ping_timeout_seconds: float = 0.5  # SELECT 1 round trip
    checkout_timeout_seconds: float = 0.5  # waiting for a pool connection to ping with
    # Failed pings in a row, retried at once within one round, before the database counts
    # as down: a lost database shows within one round, a single broken connection does not.
    ping_failures: int = 2
    stale_periods: float = 3.0  # a report older than this many intervals: sampler stalled
    error_window_seconds: float = 300.0
    error_min_operations: int = 20  # below this volume the window's rate means nothing
    error_degraded_percent: float = 3.0
    error_unhealthy_percent: float = 5.0
    memory_degraded_mb: float = 300.0
    memory_unhealthy_mb: float = 500.0
    memory_limit_fraction: float = 0.9  # of a container's cgroup limit, when one is set
    liveness_stale_seconds: float = 10.0  # event-loop heartbeat older than this: not live

    def __post_init__(self) -> None:
        for item in fields(self):
            if item.name in _INTEGERS:
                _integer(item.name, getattr(self, item.name), 1)
            else:
                low, inclusive, high = _RANGES[item.name]
                _number(item.name, getattr(self, item.name), low, inclusive, high)
        _ordered(self, "error_degraded_percent", "error_unhealthy_percent")
        _ordered(self, "memory_degraded_mb", "memory_unhealthy_mb")


_INTEGERS = {"ping_failures", "error_min_operations"}

# field -> (lowest, lowest allowed itself?, highest allowed)
_RANGES: dict[str, tuple[float, bool, float]] = {
    # Below 0.1 s the sampler is a busy loop and readiness flaps (issue 12 measured 0.001).
    "interval_seconds": (0.1, True, math.inf),
    "ping_timeout_seconds": (0.0, False, math.inf),
    "checkout_timeout_seconds": (0.0, False, math.inf),
    # A report is up to a period plus a round old when the next one lands: 1 would flap.
    "stale_periods": (2.0, True, math.inf),
    "error_window_seconds": (1.0, True, math.inf),
    "error_degraded_percent": (0.0, True, 100.0),
    "error_unhealthy_percent": (0.0, True, 100.0),
    "memory_degraded_mb": (0.0, False, math.inf),
    "memory_unhealthy_mb": (0.0, False, math.inf),
    "memory_limit_fraction": (0.0, False, 1.0),
    "liveness_stale_seconds": (2 * HEARTBEAT_SECONDS, True, math.inf),
}


def _number(name: str, value: object, low: float, inclusive: bool, high: float) -> None:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= low if inclusive else value > low)
        and value <= high
    )
    if not ok:
        bound = f">= {low:g}" if inclusive else f"> {low:g}"
        if high < math.inf:
            bound += f" and <= {high:g}"
        raise ValueError(f"{name}: must be a finite number {bound}, got {value!r}")


def _integer(name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")


def _ordered(th: Thresholds, lower: str, upper: str) -> None:
    low, high = getattr(th, lower), getattr(th, upper)
    if low > high:
        raise ValueError(f"{lower}: must be <= {upper} ({high:g}), got {low:g}")
