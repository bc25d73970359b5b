"""``ServerCollector``: the whole server's families at a scrape, from prometheus-client's
files and the published documents."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from .._shared_native import (
    KeptExemplars,
    attach_exemplars,
    merge_exemplars,
    merge_native,
    native_families,
    own_native,
)
from ..native.collector import NativeHistogramCollector
from .dead import sweep
from .directory import locked
from .merging import merge_families
from .publishing import family_to_json, read_published


class ServerCollector(Collector):
    """Everything at ``/metrics`` for the whole server: prometheus-client's own multiprocess
    merge of the mmap files, plus the published families of every process (this one's read
    fresh), both under the shared lock. First, unless ``sweep=False``, the files of processes
    gone since are compacted (``sweep``), so a dead worker's gauges stop counting at once."""

    def __init__(
        self,
        path: str,
        own: Callable[[], Iterable[Metric]],
        rules: Mapping[str, str],
        *,
        sweep: bool = True,
        natives: Callable[[], Iterable[NativeHistogramCollector]] = list,
        kept: KeptExemplars | None = None,
    ) -> None:
        self._path = path
        self._own = own
        self._rules = rules
        self._sweep = sweep
        self._natives = natives
        self._kept = kept

    def collect(self) -> Iterable[Metric]:
        if self._sweep:
            sweep(self._path)
        own: dict[str, Any] = {"families": [family_to_json(f) for f in self._own()]}
        if self._kept is not None:
            own["exemplars"] = self._kept.document()
        natives = list(self._natives())
        with locked(self._path):
            files = glob.glob(os.path.join(self._path, "*.db"))
            stored = list(MultiProcessCollector.merge(files, accumulate=True))
            published = read_published(self._path, skip_pid=os.getpid())
        attach_exemplars(stored, merge_exemplars([own, *published]))
        native = native_families(natives, merge_native(published, own_native(natives)))
        return [*stored, *native, *merge_families([own, *published], self._rules)]


# -- dead workers ---------------------------------------------------------------------------
