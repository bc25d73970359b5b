"""How published families and extremes of several processes add up: a rule per family
(``sum``, ``min``, ``max``, ``first``, ``worst``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from ..stats import Extremes

RULES = ("sum", "min", "max", "first", "worst")


def extremes_document(extremes: Mapping[str, Extremes]) -> dict[str, Any]:
    """Extremes in the published form ``{"extremes": {op: [min, max, last]}}``."""
    return {
        "extremes": {
            op: [e.min_seconds, e.max_seconds, e.last_recorded] for op, e in extremes.items()
        }
    }


def merge_extremes(documents: Iterable[Mapping[str, Any]]) -> dict[str, Extremes]:
    merged: dict[str, Extremes] = {}
    for document in documents:
        for op, (lo, hi, last) in document.get("extremes", {}).items():
            mine = Extremes(lo, hi, last)
            merged[op] = merged[op].merge(mine) if op in merged else mine
    return merged


_Key = tuple[str, tuple[tuple[str, str], ...]]  # a sample's name and sorted labels
_Samples = list[list[Any]]  # published samples: [name, labels, value]


def merge_families(
    documents: Iterable[Mapping[str, Any]], rules: Mapping[str, str]
) -> list[Metric]:
    """Combine the published families of every process, each by its rule.

    The rule of a family is ``rules[name]``, else ``sum`` for counters and gauges, ``first``
    for info, ``worst`` for state sets (the state furthest down the family's own order wins).
    """
    merged: dict[str, tuple[Metric, dict[_Key, float]]] = {}
    for document in documents:
        for item in document.get("families", ()):
            name = item["name"]
            if name not in merged:
                merged[name] = (Metric(name, item["help"], item["type"]), {})
            family, values = merged[name]
            rule = rules.get(name) or _default_rule(family.type)
            if rule == "worst":
                _merge_worst(values, item["samples"])
                continue
            for sample, labels, value in item["samples"]:
                key = (sample, tuple(sorted(labels.items())))
                values[key] = _combine(rule, values[key], value) if key in values else value
    families = []
    for family, values in merged.values():
        for (sample, labels), value in values.items():
            family.samples.append(Sample(sample, dict(labels), value))
        families.append(family)
    return families


def _default_rule(kind: str) -> str:
    return {"info": "first", "stateset": "worst"}.get(kind, "sum")


def _combine(rule: str, a: float, b: float) -> float:
    if rule == "sum":
        return a + b
    if rule == "min":
        return min(a, b)
    if rule == "max":
        return max(a, b)
    return a  # first


def _merge_worst(values: dict[_Key, float], samples: _Samples) -> None:
    """A state set: keep one state per label set, the worst any process is in."""
    keys = [(s, tuple(sorted(labels.items()))) for s, labels, _ in samples]
    order = {key: i for i, key in enumerate(keys)}
    held = [k for k, v in values.items() if v]
    mine = [k for k, (_, _, value) in zip(keys, samples, strict=True) if value]
    worst = max(held + mine, key=lambda k: order.get(k, -1), default=None)
    for key in keys:
        values[key] = 1.0 if key == worst else 0.0


# -- the scrape -----------------------------------------------------------------------------
