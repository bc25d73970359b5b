"""Which format a scraper gets from its Accept header."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from exporter.native import CONTENT_TYPE, Format, negotiate, render

# What Prometheus 2.42 sends with --enable-feature=native-histograms, and without it.
PROMETHEUS_NATIVE = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
    "encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,"
    "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_DEFAULT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (PROMETHEUS_NATIVE, Format.PROTOBUF),
        (PROMETHEUS_DEFAULT, Format.OPENMETRICS),
        ("", Format.TEXT),
        (None, Format.TEXT),
        ("*/*", Format.TEXT),
        ("text/plain;version=0.0.4", Format.TEXT),
        ("application/json", Format.TEXT),
        # protobuf only as the delimited MetricFamily stream
        ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
         "encoding=text", Format.TEXT),
        ("application/vnd.google.protobuf", Format.TEXT),
        # q-values decide, not order; ties go to the earlier
        ("text/plain;q=0.9,application/vnd.google.protobuf;"
         "proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.95", Format.PROTOBUF),
        ("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;q=0.5", Format.OPENMETRICS),
        ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
         "encoding=delimited;q=0,text/plain", Format.TEXT),
        ("application/openmetrics-text;version=9.9.9", Format.TEXT),
        ("text/plain;q=bogus", Format.TEXT),
    ],
)  # fmt: skip
def test_negotiate(accept, expected):
    assert negotiate(accept) is expected


def test_protobuf_can_be_switched_off():
    assert negotiate(PROMETHEUS_NATIVE, protobuf=False) is Format.OPENMETRICS


def test_render_answers_each_format_with_its_content_type():
    registry = CollectorRegistry()
    Counter("hits", "Hits.", registry=registry).inc()
    body, content_type = render(registry, PROMETHEUS_NATIVE)
    assert content_type == CONTENT_TYPE and body[1:3] == b"\x0a\x0a"  # name, 10 bytes
    body, content_type = render(registry, PROMETHEUS_DEFAULT)
    assert content_type.startswith(OPENMETRICS) and body.endswith(b"# EOF\n")
    body, content_type = render(registry, None)
    assert content_type.startswith("text/plain") and b"hits_total 1.0" in body
