"""What prometheus-client's files do not hold (custom collectors, min/max/last, native
histograms, exemplars), published by each process as ``published_<pid>.json`` every
``interval`` seconds, atomically, and read back."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client.metrics_core import Metric

from ..stats import Extremes
from .merging import extremes_document


def go_float(value: float) -> str:
    return "+Inf" if value == math.inf else repr(float(value))


# -- what each process publishes ------------------------------------------------------------


def family_to_json(family: Metric) -> dict[str, Any]:
    """A family as JSON, without ``_created`` samples (one process's creation time means
    nothing for the server's total)."""
    return {
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "samples": [
            [s.name, s.labels, s.value] for s in family.samples if not s.name.endswith("_created")
        ],
    }


class Publisher:
    """Writes this process's custom families and operation extremes for the others to read.

    ``families`` returns what to publish (the collectors prometheus-client does not store);
    ``extremes`` the per-operation min/max/last. A daemon thread publishes every ``interval``
    seconds; ``publish()`` does it at once (before a read, and when the process stops).
    ``kept`` names the gauge families that outlive the process, and the rule they fold by
    (``{"x_last_recorded_timestamp_seconds": "max"}``): counters always do, other gauges
    (memory, health) stop counting with it. ``extra``: more sections of the document (native
    histograms and exemplars, see ``_shared_native``).
    """

    def __init__(
        self,
        path: str,
        families: Callable[[], Iterable[Metric]],
        extremes: Callable[[], Mapping[str, Extremes]],
        interval: float = 1.0,
        on_interval: Callable[[], None] | None = None,
        kept: Mapping[str, str] | None = None,
        extra: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self._path = path
        self._extra = extra
        self._families = families
        self._extremes = extremes
        self._interval = interval
        self._on_interval = on_interval
        self._kept = dict(kept or {})
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="metrics-publisher", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):  # a failed publish shows as stale numbers
                if self._on_interval is not None:
                    self._on_interval()
                self.publish()

    def own(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "at": time.time(),
            "families": [family_to_json(f) for f in self._families()],
            "kept": self._kept,
            **extremes_document(self._extremes()),
            **(self._extra() if self._extra is not None else {}),
        }

    def publish(self) -> None:
        body = json.dumps(self.own(), separators=(",", ":"))
        target = os.path.join(self._path, f"published_{os.getpid()}.json")
        with self._lock:
            temporary = f"{target}.tmp"
            with open(temporary, "w") as f:
                f.write(body)
            os.replace(temporary, target)


def read_published(path: str, skip_pid: int | None = None) -> list[dict[str, Any]]:
    """Every process's published document (and the dead workers' fold), but ``skip_pid``'s."""
    documents = []
    for name in glob.glob(os.path.join(path, "published_*.json")):
        if skip_pid is not None and name.endswith(f"_{skip_pid}.json"):
            continue
        try:
            with open(name) as f:
                documents.append(json.load(f))
        except (FileNotFoundError, ValueError):  # replaced or half-written: next time
            continue
    return documents
