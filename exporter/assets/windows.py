"""Prometheus durations, and the time scale that shrinks every window and ``for`` alike.

Rules and tests name windows by their nominal length (``rate1h``); the expressions use the
scaled duration. ``scale=1`` is production; an end-to-end test may run the same rules with
``scale=1/60`` (an hour in a minute) against a Prometheus that scrapes every second.
"""

from __future__ import annotations

import re
from typing import Final

UNITS: Final = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_PART: Final = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """``"1h30m"`` -> 5400.0"""
    parts = _PART.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _SECONDS[u] for n, u in parts)


def duration(total: float) -> str:
    """Seconds as the shortest Prometheus duration: 5400 -> "1h30m", 0.5 -> "500ms"."""
    ms = round(total * 1000)
    if ms <= 0:
        raise ValueError(f"duration must be positive, got {total}")
    out, rest = "", ms // 1000
    for unit, size in UNITS:
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    if ms % 1000:
        out += f"{ms % 1000}ms"
    return out


class Clock:
    """Scaled durations: ``Clock(1/60).of("1h") == "1m"``."""

    def __init__(self, scale: float = 1.0) -> None:
        if not 0 < scale <= 1:
            raise ValueError(f"scale: must be in (0, 1], got {scale}")
        self.scale = scale

    def of(self, nominal: str) -> str:
        return duration(seconds(nominal) * self.scale)

    def secs(self, nominal: str) -> float:
        return seconds(nominal) * self.scale
