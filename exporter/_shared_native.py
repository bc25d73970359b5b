"""Native histograms and exemplars of several worker processes, via what each publishes.

prometheus-client's mmap files hold neither native buckets nor exemplars. Each worker puts
them in the document it already publishes on its beat (``multiprocess.Publisher``, every
``publish_interval``, 1 s by default, and when it stops): its native histograms' states
(``"native"``) and the newest exemplar of each classic bucket it recorded one in
(``"exemplars"``). The hot path pays nothing for it (a state is read once a beat), at the
price of another worker's figures being up to one beat old at a scrape; the scraping
process's own are read fresh. Merging: states add up (:meth:`NativeState.merge`), per
bucket the newest exemplar wins. A dead worker's last document is folded with the rest of
what it published (``multiprocess.dead``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar, Sample

from .native.collector import NativeHistogramCollector
from .native.document import exemplar_from_json, exemplar_to_json, state_from_json, state_to_json
from .native.state import NativeState

Merged = dict[str, dict[tuple[str, ...], NativeState]]  # name -> label values -> state
_ExemplarKey = tuple[str, tuple[tuple[str, str], ...]]  # sample name, sorted labels


def native_document(collectors: Iterable[NativeHistogramCollector]) -> list[dict[str, Any]]:
    """The published form of ``collectors``' series."""
    return [
        {"name": c.name, "series": [[list(v), state_to_json(s)] for v, s in c.series()]}
        for c in collectors
    ]


def merge_native(documents: Iterable[Mapping[str, Any]], into: Merged | None = None) -> Merged:
    """Every document's ``"native"`` section added up (into ``into``, when given)."""
    merged: Merged = {} if into is None else into
    for document in documents:
        for item in document.get("native", ()):
            series = merged.setdefault(item["name"], {})
            for values, raw in item["series"]:
                key, state = tuple(values), state_from_json(raw)
                series[key] = series[key].merge(state) if key in series else state
    return merged


def merged_to_json(merged: Merged) -> list[dict[str, Any]]:
    return [
        {"name": name, "series": [[list(v), state_to_json(s)] for v, s in series.items()]}
        for name, series in merged.items()
    ]


def own_native(collectors: Iterable[NativeHistogramCollector]) -> Merged:
    """This process's states, fresh."""
    return {c.name: dict(c.series()) for c in collectors}


def native_families(collectors: Iterable[NativeHistogramCollector], merged: Merged) -> list[Metric]:
    """A family per collector holding the server's merged series of its name."""
    return [c.family(merged.get(c.name, {}).items()) for c in collectors]


# -- exemplars of classic buckets -------------------------------------------------------------


class KeptExemplars:
    """The newest exemplar per classic bucket of the histograms a process records into, where
    prometheus-client keeps none (multiprocess mode). ``slots(...)`` hands out one list per
    series, a slot per bucket (+Inf last), which the hot path stores into (one list store)."""

    def __init__(self) -> None:
        self._series: list[tuple[str, dict[str, str], tuple[str, ...], list[Exemplar | None]]] = []

    def slots(
        self, sample: str, labels: Mapping[str, str], les: Iterable[str]
    ) -> list[Exemplar | None]:
        """Slots for the series ``labels`` of the bucket samples named ``sample``; ``les``:
        the buckets' ``le`` label values, in order."""
        les = tuple(les)
        kept: list[Exemplar | None] = [None] * len(les)
        self._series.append((sample, dict(labels), les, kept))
        return kept

    def document(self) -> list[list[Any]]:
        """``[[sample, labels, exemplar], ...]`` for every bucket holding one."""
        out = []
        for sample, labels, les, kept in list(self._series):
            for le, exemplar in zip(les, list(kept), strict=True):
                if exemplar is not None:
                    out.append([sample, {**labels, "le": le}, exemplar_to_json(exemplar)])
        return out


def merge_exemplars(documents: Iterable[Mapping[str, Any]]) -> dict[_ExemplarKey, Exemplar]:
    """Per bucket, the newest exemplar any document holds."""
    merged: dict[_ExemplarKey, Exemplar] = {}
    for document in documents:
        for sample, labels, raw in document.get("exemplars", ()):
            exemplar = exemplar_from_json(raw)
            if exemplar is None:
                continue
            key = (sample, tuple(sorted(labels.items())))
            before = merged.get(key)
            if before is None or float(exemplar.timestamp or 0) > float(before.timestamp or 0):
                merged[key] = exemplar
    return merged


def exemplars_to_json(merged: Mapping[_ExemplarKey, Exemplar]) -> list[list[Any]]:
    return [[s, dict(labels), exemplar_to_json(e)] for (s, labels), e in merged.items()]


def attach_exemplars(families: Iterable[Metric], merged: Mapping[_ExemplarKey, Exemplar]) -> None:
    """Set each bucket sample's exemplar to the merged one of its series and bucket."""
    if not merged:
        return
    for family in families:
        if family.type != "histogram":
            continue
        for i, sample in enumerate(family.samples):
            if sample.name.endswith("_bucket"):
                found = merged.get((sample.name, tuple(sorted(sample.labels.items()))))
                if found is not None:
                    family.samples[i] = Sample(*sample[:4], found)
