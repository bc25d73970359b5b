"""Which exposition format a scraper gets, from its ``Accept`` header.

Prometheus says what it wants in ``Accept`` with q-values. 2.42 with
``--enable-feature=native-histograms`` lists the protobuf format first::

    application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,
    application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;
    version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1

and without the flag it leaves protobuf out. The media range with the highest q that we
serve wins, the earlier one on a tie (RFC 9110, 12.5.1); protobuf only when its ``proto``
and ``encoding`` parameters name the delimited ``MetricFamily`` stream; OpenMetrics for
versions 1.0.0 and 0.0.1 (or none); anything else, or no header, gets the text format.
"""

from __future__ import annotations

import enum


class Format(enum.Enum):
    PROTOBUF = "protobuf"
    OPENMETRICS = "openmetrics"
    TEXT = "text"


_PROTO = "io.prometheus.client.metricfamily"
_OPENMETRICS_VERSIONS = frozenset({None, "1.0.0", "0.0.1"})


def negotiate(accept: str | None, protobuf: bool = True) -> Format:
    """The format to answer ``accept`` with; ``protobuf=False``: never protobuf."""
    best, best_q = Format.TEXT, 0.0
    for media_range in (accept or "").split(","):
        candidate, q = _parse(media_range)
        if candidate is Format.PROTOBUF and not protobuf:
            continue
        if candidate is not None and q > best_q:
            best, best_q = candidate, q
    return best


def _parse(media_range: str) -> tuple[Format | None, float]:
    media_type, *raw = media_range.split(";")
    params: dict[str, str] = {}
    for item in raw:
        name, _, value = item.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    try:
        q = float(params.pop("q", "1"))
    except ValueError:
        return None, 0.0
    if not 0 < q <= 1:
        return None, 0.0
    media_type = media_type.strip().lower()
    if media_type == "application/vnd.google.protobuf":
        ok = params.get("proto", "").lower() == _PROTO and params.get("encoding") == "delimited"
        return (Format.PROTOBUF if ok else None), q
    if media_type == "application/openmetrics-text":
        ok = params.get("version") in _OPENMETRICS_VERSIONS
        return (Format.OPENMETRICS if ok else None), q
    if media_type in ("text/plain", "text/*", "*/*"):
        return Format.TEXT, q
    return None, 0.0
