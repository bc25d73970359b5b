"""The JSON view's reset, shared by every worker of one server.

``MetricsCollector.reset()`` starts a new baseline for the JSON view (Prometheus counters
stay monotonic). With several workers the baseline is a file beside their metric files, so a
reset through any worker resets the view of all: each notices the file changed and takes it.
"""

from __future__ import annotations

import json
import math
import os

from .stats import Cumulative

Totals = dict[str, Cumulative]


class SharedBaseline:
    """``baseline.json`` in a multiprocess directory: write it, or notice another's."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, "baseline.json")
        self._stamp: int | None = None

    def write(self, totals: Totals, at: float) -> None:
        body = {
            "at": at,
            "totals": {
                op: [c.count, c.errors, c.total_seconds, list(c.buckets)]
                for op, c in totals.items()
            },
        }
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(body, f)
        os.replace(tmp, self.path)
        self._stamp = os.stat(self.path).st_mtime_ns

    def changed(self) -> tuple[Totals, float] | None:
        """Another worker's new baseline and its time, or None when it is the one we know."""
        try:
            stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return None
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            with open(self.path) as f:
                body = json.load(f)
        except (FileNotFoundError, ValueError):
            return None
        totals = {
            op: Cumulative(count, errors, seconds, tuple(buckets))
            for op, (count, errors, seconds, buckets) in body["totals"].items()
        }
        return totals, float(body["at"])


def reset_at(directory: str) -> float:
    """When the view was last reset in ``directory`` (Unix time), or -inf: extremes
    published before it belong to the old view."""
    try:
        with open(os.path.join(directory, "baseline.json")) as f:
            return float(json.load(f)["at"])
    except (FileNotFoundError, ValueError, KeyError):
        return -math.inf
