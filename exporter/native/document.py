"""A :class:`~.state.NativeState` as plain JSON values, to hand it to another process.

Worker processes publish their native histograms in files beside prometheus-client's
(``exporter.multiprocess``); the scraping process reads them back and merges them. JSON
object keys are strings, so sparse buckets travel as ``[[index, count], ...]``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client.samples import Exemplar

from .state import NativeState


def exemplar_to_json(exemplar: Exemplar | None) -> list[Any] | None:
    """``[labels, value, timestamp]``, or None."""
    if exemplar is None:
        return None
    return [exemplar.labels, exemplar.value, exemplar.timestamp]


def exemplar_from_json(item: list[Any] | None) -> Exemplar | None:
    if item is None:
        return None
    labels, value, timestamp = item
    return Exemplar(dict(labels), float(value), timestamp)


def state_to_json(state: NativeState) -> dict[str, Any]:
    return {
        "schema": state.schema,
        "zt": state.zero_threshold,
        "count": state.count,
        "sum": state.sum,
        "zero": state.zero_count,
        "pos": [[k, n] for k, n in state.positive.items()],
        "neg": [[k, n] for k, n in state.negative.items()],
        "bounds": list(state.classic_bounds),
        "classic": list(state.classic_counts),
        "ex": [exemplar_to_json(e) for e in state.exemplars],
        "created": state.created,
    }


def state_from_json(item: dict[str, Any]) -> NativeState:
    return NativeState(
        schema=int(item["schema"]),
        zero_threshold=float(item["zt"]),
        count=int(item["count"]),
        sum=float(item["sum"]),
        zero_count=int(item["zero"]),
        positive={int(k): int(n) for k, n in item["pos"]},
        negative={int(k): int(n) for k, n in item["neg"]},
        classic_bounds=tuple(float(b) for b in item["bounds"]),
        classic_counts=tuple(int(n) for n in item["classic"]),
        exemplars=tuple(exemplar_from_json(e) for e in item["ex"]),
        created=float(item["created"]),
    )
