"""Sparse buckets as Prometheus carries them: spans of consecutive indexes, delta counts.

A span is ``(offset, length)``: the first span's offset is its first index, every later
span's the gap since the previous span ended. Counts are sent as deltas, each bucket's
count minus the previous bucket's (the first against 0). As client_golang's
``makeBuckets`` does, a gap of one or two empty buckets is bridged with zero counts rather
than opening a new span (a span costs more bytes than two zero deltas).
"""

from __future__ import annotations

from collections.abc import Mapping

Span = tuple[int, int]  # (offset, length)

MAX_BRIDGED_GAP = 2


def spans_and_deltas(buckets: Mapping[int, int]) -> tuple[list[Span], list[int]]:
    """``buckets`` (index -> count) as spans and delta-encoded counts, indexes ascending."""
    spans: list[list[int]] = []
    deltas: list[int] = []
    previous_count = 0
    next_index = 0
    for index in sorted(buckets):
        gap = index - next_index
        if not spans or gap > MAX_BRIDGED_GAP:
            spans.append([gap, 0])
        else:
            for _ in range(gap):  # bridge the gap with empty buckets
                spans[-1][1] += 1
                deltas.append(-previous_count)
                previous_count = 0
        count = buckets[index]
        spans[-1][1] += 1
        deltas.append(count - previous_count)
        previous_count = count
        next_index = index + 1
    return [(offset, length) for offset, length in spans], deltas


def expand(spans: list[Span], deltas: list[int]) -> dict[int, int]:
    """The inverse of :func:`spans_and_deltas` (bridged zero buckets are dropped)."""
    buckets: dict[int, int] = {}
    index, count, position = 0, 0, 0
    for offset, length in spans:
        index += offset
        for _ in range(length):
            count += deltas[position]
            position += 1
            if count:
                buckets[index] = count
            index += 1
    return buckets
