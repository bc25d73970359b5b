"""The Prometheus protobuf exposition of a prometheus-client registry.

``Content-Type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
encoding=delimited``: one ``MetricFamily`` message per family, each preceded by its length
as a varint. It is the only format in which Prometheus 2.x scrapes native histograms.
prometheus-client has no encoder for it, and the ``protobuf`` package would build a message
object per bucket on the scrape path, so this one writes the bytes directly (field numbers
pinned in :mod:`.wire`).

Every family type maps as Prometheus's own clients and its text parser map them:
counter -> COUNTER named ``<name>_total``; gauge -> GAUGE; info -> GAUGE ``<name>_info``;
stateset -> GAUGE; unknown -> UNTYPED; summary -> SUMMARY; histogram -> HISTOGRAM;
gaugehistogram -> GAUGE_HISTOGRAM. ``_created`` samples become ``created_timestamp``; sample
timestamps ``timestamp_ms``; exemplars ride on counters and classic buckets (a ``+Inf``
bucket is written only to carry one, as client_golang does, since Prometheus derives it
from the count). A family that carries native histograms (:class:`~.family.NativeCarrier`)
is written from its states: schema, zero bucket, spans and deltas, its classic buckets
beside them, and its exemplars again in ``exemplars`` (field 16) for newer Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar, Sample

from . import wire
from .family import native_series
from .spans import spans_and_deltas
from .state import NativeState

CONTENT_TYPE = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)

_LabelKey = tuple[tuple[str, str], ...]
_ld = wire.length_delimited
_varint = wire.varint
_double = wire.double


def generate_protobuf(registry: Collector) -> bytes:
    """Every family ``registry`` collects, length-delimited ``MetricFamily`` messages."""
    labels = _LabelCache()
    out: list[bytes] = []
    for family in registry.collect():
        try:
            message = _family(family, labels)
        except Exception as exc:  # name the family, as prometheus-client's encoders do
            exc.args = (*exc.args, family)
            raise
        out.append(_varint(len(message)))
        out.append(message)
    return b"".join(out)


class _LabelCache:
    """Encoded ``LabelPair`` fields per label set, for one render (a histogram's label set
    repeats on every bucket sample)."""

    def __init__(self) -> None:
        self._done: dict[_LabelKey, bytes] = {}

    def __call__(self, key: _LabelKey) -> bytes:
        done = self._done.get(key)
        if done is None:
            done = self._done[key] = b"".join(
                _ld(
                    wire.METRIC_LABEL,
                    wire.string(wire.LABEL_NAME, name) + wire.string(wire.LABEL_VALUE, value),
                )
                for name, value in sorted(key)
            )
        return done


# -- families ---------------------------------------------------------------------------


def _family(family: Any, labels: _LabelCache) -> bytes:
    kind: str = family.type
    name: str = family.name
    if kind == "counter":
        name, mtype, metrics = name + "_total", wire.COUNTER, _counters(family, labels)
    elif kind == "histogram":
        mtype, metrics = wire.HISTOGRAM, _histograms(family, labels, "_count", "_sum")
    elif kind == "gaugehistogram":
        mtype, metrics = wire.GAUGE_HISTOGRAM, _histograms(family, labels, "_gcount", "_gsum")
    elif kind == "summary":
        mtype, metrics = wire.SUMMARY, _summaries(family, labels)
    elif kind == "unknown":
        mtype, metrics = wire.UNTYPED, _values(family, labels, wire.METRIC_UNTYPED)
    else:  # gauge, info, stateset: gauges in Prometheus
        if kind == "info":
            name += "_info"
        mtype, metrics = wire.GAUGE, _values(family, labels, wire.METRIC_GAUGE)
    parts = [
        wire.string(wire.FAMILY_NAME, name),
        wire.string(wire.FAMILY_HELP, family.documentation),
        wire.FAMILY_TYPE + _varint(mtype),
        *metrics,
    ]
    if family.unit:
        parts.append(wire.string(wire.FAMILY_UNIT, family.unit))
    return b"".join(parts)


def _metric(label_fields: bytes, value_key: bytes, value: bytes, timestamp: Any) -> bytes:
    body = label_fields + _ld(value_key, value)
    if timestamp is not None:
        body += wire.METRIC_TIMESTAMP_MS + _varint(int(float(timestamp) * 1000))
    return _ld(wire.FAMILY_METRIC, body)


def _values(family: Any, labels: _LabelCache, value_key: bytes) -> Iterable[bytes]:
    for s in family.samples:
        yield _metric(
            labels(tuple(s.labels.items())),
            value_key,
            _double(wire.VALUE, s.value),
            s.timestamp,
        )


def _grouped(samples: Iterable[Sample], drop: str) -> dict[_LabelKey, list[Sample]]:
    """Samples by label set, ``drop`` (``le``, ``quantile``) not counted; in order."""
    groups: dict[_LabelKey, list[Sample]] = {}
    for s in samples:
        key = tuple(item for item in s.labels.items() if item[0] != drop)
        group = groups.get(key)
        if group is None:
            groups[key] = [s]
        else:
            group.append(s)
    return groups


def _counters(family: Any, labels: _LabelCache) -> Iterable[bytes]:
    created_name = family.name + "_created"
    for key, samples in _grouped(family.samples, "").items():
        body, timestamp = b"", None
        for s in samples:
            if s.name == created_name:
                body += _ld(wire.COUNTER_CREATED, _timestamp(s.value))
            else:
                body = _double(wire.COUNTER_VALUE, s.value) + body
                if s.exemplar is not None:
                    body += _ld(wire.COUNTER_EXEMPLAR, _exemplar(s.exemplar))
                timestamp = s.timestamp
        yield _metric(labels(key), wire.METRIC_COUNTER, body, timestamp)


def _summaries(family: Any, labels: _LabelCache) -> Iterable[bytes]:
    name = family.name
    for key, samples in _grouped(family.samples, "quantile").items():
        parts, timestamp = [], None
        for s in samples:
            if s.name == name:
                quantile = float(s.labels["quantile"])
                parts.append(
                    _ld(
                        wire.SUMMARY_QUANTILE,
                        _double(wire.QUANTILE_QUANTILE, quantile)
                        + _double(wire.QUANTILE_VALUE, s.value),
                    )
                )
                timestamp = s.timestamp
            elif s.name == name + "_count":
                parts.append(wire.SUMMARY_COUNT + _varint(int(s.value)))
                timestamp = s.timestamp
            elif s.name == name + "_sum":
                parts.append(_double(wire.SUMMARY_SUM, s.value))
            elif s.name == name + "_created":
                parts.append(_ld(wire.SUMMARY_CREATED, _timestamp(s.value)))
        yield _metric(labels(key), wire.METRIC_SUMMARY, b"".join(parts), timestamp)


def _histograms(family: Any, labels: _LabelCache, count: str, total: str) -> Iterable[bytes]:
    native = native_series(family)
    if native is not None:
        for series_labels, state in native:
            key = tuple(series_labels.items())
            yield _metric(labels(key), wire.METRIC_HISTOGRAM, native_histogram(state), None)
        return
    name = family.name
    bucket, count, total, created = name + "_bucket", name + count, name + total, name + "_created"
    for key, samples in _grouped(family.samples, "le").items():
        parts, timestamp = [], None
        for s in samples:
            if s.name == bucket:
                upper = float(s.labels["le"])
                if upper != math.inf or s.exemplar is not None:
                    parts.append(_bucket(upper, s.value, s.exemplar))
            elif s.name == count:
                parts.append(_count(s.value))
                timestamp = s.timestamp
            elif s.name == total:
                parts.append(_double(wire.HISTOGRAM_SUM, s.value))
            elif s.name == created:
                parts.append(_ld(wire.HISTOGRAM_CREATED, _timestamp(s.value)))
        yield _metric(labels(key), wire.METRIC_HISTOGRAM, b"".join(parts), timestamp)


def _count(value: float) -> bytes:
    if value == int(value):
        return wire.HISTOGRAM_COUNT + _varint(int(value))
    return _double(wire.HISTOGRAM_COUNT_FLOAT, value)


def _bucket(upper: float, cumulative: float, exemplar: Exemplar | None) -> bytes:
    if cumulative == int(cumulative):
        body = wire.BUCKET_CUMULATIVE_COUNT + _varint(int(cumulative))
    else:
        body = _double(wire.BUCKET_CUMULATIVE_COUNT_FLOAT, cumulative)
    body += _double(wire.BUCKET_UPPER_BOUND, upper)
    if exemplar is not None:
        body += _ld(wire.BUCKET_EXEMPLAR, _exemplar(exemplar))
    return _ld(wire.HISTOGRAM_BUCKET, body)


# -- native histograms --------------------------------------------------------------------


def native_histogram(state: NativeState) -> bytes:
    """The ``Histogram`` message of ``state``: count, sum, classic buckets if any, schema,
    zero bucket, negative then positive spans and deltas, exemplars."""
    parts = [
        wire.HISTOGRAM_COUNT + _varint(state.count),
        _double(wire.HISTOGRAM_SUM, state.sum),
    ]
    bounds = (*state.classic_bounds, math.inf)
    cumulative = state.cumulative_classic() if state.classic_counts else [state.count]
    for upper, total, exemplar in zip(bounds, cumulative, state.exemplars, strict=True):
        if upper != math.inf or exemplar is not None:
            parts.append(_bucket(upper, total, exemplar))
    parts.append(_ld(wire.HISTOGRAM_CREATED, _timestamp(state.created)))
    parts.append(wire.HISTOGRAM_SCHEMA + _varint(wire.zigzag(state.schema)))
    parts.append(_double(wire.HISTOGRAM_ZERO_THRESHOLD, state.zero_threshold))
    parts.append(wire.HISTOGRAM_ZERO_COUNT + _varint(state.zero_count))
    _sparse(parts, state.negative, wire.HISTOGRAM_NEGATIVE_SPAN, wire.HISTOGRAM_NEGATIVE_DELTA)
    positive = _sparse(
        parts, state.positive, wire.HISTOGRAM_POSITIVE_SPAN, wire.HISTOGRAM_POSITIVE_DELTA
    )
    if not positive and not state.negative and not state.zero_count and not state.zero_threshold:
        # client_golang's no-op span: without it, an empty native histogram with a zero
        # threshold of 0 reads as a classic one.
        parts.append(_ld(wire.HISTOGRAM_POSITIVE_SPAN, _span(0, 0)))
    for exemplar in state.exemplars:
        if exemplar is not None and exemplar.timestamp is not None:  # field 16 requires one
            parts.append(_ld(wire.HISTOGRAM_EXEMPLARS, _exemplar(exemplar)))
    return b"".join(parts)


def _sparse(
    parts: list[bytes], buckets: Mapping[int, int], span_key: bytes, delta_key: bytes
) -> bool:
    """Append ``buckets`` as spans and deltas to ``parts``; whether there were any."""
    if not buckets:
        return False
    spans, deltas = spans_and_deltas(buckets)
    parts.extend(_ld(span_key, _span(offset, length)) for offset, length in spans)
    parts.extend(delta_key + _varint(wire.zigzag(d)) for d in deltas)
    return True


def _span(offset: int, length: int) -> bytes:
    return wire.SPAN_OFFSET + _varint(wire.zigzag(offset)) + wire.SPAN_LENGTH + _varint(length)


# -- exemplars and timestamps -------------------------------------------------------------


def _exemplar(exemplar: Exemplar) -> bytes:
    body = b"".join(
        _ld(
            wire.EXEMPLAR_LABEL,
            wire.string(wire.LABEL_NAME, name) + wire.string(wire.LABEL_VALUE, value),
        )
        for name, value in sorted(exemplar.labels.items())
    )
    body += _double(wire.EXEMPLAR_VALUE, exemplar.value)
    if exemplar.timestamp is not None:
        body += _ld(wire.EXEMPLAR_TIMESTAMP, _timestamp(float(exemplar.timestamp)))
    return body


def _timestamp(seconds: float) -> bytes:
    """A ``google.protobuf.Timestamp``: whole seconds (floor) and nanoseconds in [0, 1e9)."""
    whole = math.floor(seconds)
    nanos = min(round((seconds - whole) * 1e9), 999_999_999)
    body = wire.TIMESTAMP_SECONDS + _varint(whole) if whole else b""
    return body + (wire.TIMESTAMP_NANOS + _varint(nanos) if nanos else b"")
