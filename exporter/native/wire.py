"""Protocol Buffers wire format, the little the Prometheus exposition needs, and the field
numbers of ``io/prometheus/client/metrics.proto`` (prometheus/client_model), pinned here.

A field is a key, ``field_number << 3 | wire_type``, as a varint, then its payload: a
varint (wire type 0), 8 little-endian bytes (1: double) or a varint length and that many
bytes (2: strings, nested messages). ``sint32``/``sint64`` are zigzag-encoded varints;
``int64``/``uint64``/``uint32``/enums plain varints (negative ``int64`` as 10-byte two's
complement). metrics.proto is proto2 and declares no ``[packed=true]``, so repeated
scalars are sent unpacked, one key per element, as protoc-generated encoders do.

The numbers below are the format's (prometheus/client_model's metrics.proto);
``tests/kit/native`` decodes our output with a parser compiled from the test suite's own
statement of those messages, and a real Prometheus ingests it, so a wrong number here
fails a test.
"""

from __future__ import annotations

import struct
from typing import Final

VARINT: Final = 0
I64: Final = 1
LEN: Final = 2

_pack_double = struct.Struct("<d").pack
_SMALL: Final = tuple(bytes([i]) for i in range(128))  # one-byte varints, ready made


def varint(n: int) -> bytes:
    """``n`` (0 <= n < 2^64; a negative int64 as its two's complement) as a varint."""
    if 0 <= n < 128:
        return _SMALL[n]
    if n < 0:
        n &= 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zigzag(n: int) -> int:
    """``sint32``/``sint64``: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ..."""
    return n << 1 if n >= 0 else (-n << 1) - 1


def key(field_number: int, wire_type: int) -> bytes:
    return varint(field_number << 3 | wire_type)


def double(field_key: bytes, value: float) -> bytes:
    return field_key + _pack_double(value)


def length_delimited(field_key: bytes, payload: bytes) -> bytes:
    return field_key + varint(len(payload)) + payload


def string(field_key: bytes, value: str) -> bytes:
    return length_delimited(field_key, value.encode("utf-8"))


# -- metrics.proto, message by message: field number, wire type -----------------------------

# message MetricFamily
FAMILY_NAME: Final = key(1, LEN)  # optional string name = 1
FAMILY_HELP: Final = key(2, LEN)  # optional string help = 2
FAMILY_TYPE: Final = key(3, VARINT)  # optional MetricType type = 3
FAMILY_METRIC: Final = key(4, LEN)  # repeated Metric metric = 4
FAMILY_UNIT: Final = key(5, LEN)  # optional string unit = 5

# enum MetricType
COUNTER: Final = 0
GAUGE: Final = 1
SUMMARY: Final = 2
UNTYPED: Final = 3
HISTOGRAM: Final = 4
GAUGE_HISTOGRAM: Final = 5

# message Metric
METRIC_LABEL: Final = key(1, LEN)  # repeated LabelPair label = 1
METRIC_GAUGE: Final = key(2, LEN)  # optional Gauge gauge = 2
METRIC_COUNTER: Final = key(3, LEN)  # optional Counter counter = 3
METRIC_SUMMARY: Final = key(4, LEN)  # optional Summary summary = 4
METRIC_UNTYPED: Final = key(5, LEN)  # optional Untyped untyped = 5
METRIC_TIMESTAMP_MS: Final = key(6, VARINT)  # optional int64 timestamp_ms = 6
METRIC_HISTOGRAM: Final = key(7, LEN)  # optional Histogram histogram = 7

# message LabelPair
LABEL_NAME: Final = key(1, LEN)  # optional string name = 1
LABEL_VALUE: Final = key(2, LEN)  # optional string value = 2

# message Gauge, message Untyped
VALUE: Final = key(1, I64)  # optional double value = 1

# message Counter
COUNTER_VALUE: Final = key(1, I64)  # optional double value = 1
COUNTER_EXEMPLAR: Final = key(2, LEN)  # optional Exemplar exemplar = 2
COUNTER_CREATED: Final = key(3, LEN)  # optional google.protobuf.Timestamp created_timestamp = 3

# message Quantile
QUANTILE_QUANTILE: Final = key(1, I64)  # optional double quantile = 1
QUANTILE_VALUE: Final = key(2, I64)  # optional double value = 2

# message Summary
SUMMARY_COUNT: Final = key(1, VARINT)  # optional uint64 sample_count = 1
SUMMARY_SUM: Final = key(2, I64)  # optional double sample_sum = 2
SUMMARY_QUANTILE: Final = key(3, LEN)  # repeated Quantile quantile = 3
SUMMARY_CREATED: Final = key(4, LEN)  # optional google.protobuf.Timestamp created_timestamp = 4

# message Histogram
HISTOGRAM_COUNT: Final = key(1, VARINT)  # optional uint64 sample_count = 1
HISTOGRAM_SUM: Final = key(2, I64)  # optional double sample_sum = 2
HISTOGRAM_BUCKET: Final = key(3, LEN)  # repeated Bucket bucket = 3
HISTOGRAM_COUNT_FLOAT: Final = key(4, I64)  # optional double sample_count_float = 4
HISTOGRAM_SCHEMA: Final = key(5, VARINT)  # optional sint32 schema = 5
HISTOGRAM_ZERO_THRESHOLD: Final = key(6, I64)  # optional double zero_threshold = 6
HISTOGRAM_ZERO_COUNT: Final = key(7, VARINT)  # optional uint64 zero_count = 7
HISTOGRAM_NEGATIVE_SPAN: Final = key(9, LEN)  # repeated BucketSpan negative_span = 9
HISTOGRAM_NEGATIVE_DELTA: Final = key(10, VARINT)  # repeated sint64 negative_delta = 10
HISTOGRAM_POSITIVE_SPAN: Final = key(12, LEN)  # repeated BucketSpan positive_span = 12
HISTOGRAM_POSITIVE_DELTA: Final = key(13, VARINT)  # repeated sint64 positive_delta = 13
HISTOGRAM_CREATED: Final = key(15, LEN)  # optional google.protobuf.Timestamp created_ts = 15
HISTOGRAM_EXEMPLARS: Final = key(16, LEN)  # repeated Exemplar exemplars = 16

# message Bucket
BUCKET_CUMULATIVE_COUNT: Final = key(1, VARINT)  # optional uint64 cumulative_count = 1
BUCKET_UPPER_BOUND: Final = key(2, I64)  # optional double upper_bound = 2
BUCKET_EXEMPLAR: Final = key(3, LEN)  # optional Exemplar exemplar = 3
BUCKET_CUMULATIVE_COUNT_FLOAT: Final = key(4, I64)  # optional double cumulative_count_float = 4

# message BucketSpan
SPAN_OFFSET: Final = key(1, VARINT)  # optional sint32 offset = 1
SPAN_LENGTH: Final = key(2, VARINT)  # optional uint32 length = 2

# message Exemplar
EXEMPLAR_LABEL: Final = key(1, LEN)  # repeated LabelPair label = 1
EXEMPLAR_VALUE: Final = key(2, I64)  # optional double value = 2
EXEMPLAR_TIMESTAMP: Final = key(3, LEN)  # optional google.protobuf.Timestamp timestamp = 3

# message google.protobuf.Timestamp (google/protobuf/timestamp.proto)
TIMESTAMP_SECONDS: Final = key(1, VARINT)  # int64 seconds = 1
TIMESTAMP_NANOS: Final = key(2, VARINT)  # int32 nanos = 2
