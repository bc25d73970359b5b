"""The JSON endpoints and /metrics through a real uvicorn on loopback."""

from __future__ import annotations

import gzip
import re
import subprocess

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from exporter import MetricsCollector
from tests.kit.app import kit_app
from tests.kit.catalog import Op
from tests.support import require_tool, running

CATALOG = Op.all()  # a real catalog of names to bind up front

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?(s|ms|µs|ns))$|^0s$")


@pytest.fixture(scope="module")
def served():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    for seconds in (0.0012, 0.0085, 0.1205):
        collector.record_operation(Op.CREATE_ORDER, seconds)
    collector.record_operation(Op.CREATE_ORDER, 0.004, error=ValueError("bad"))
    collector.record_operation(Op.LIST_ORDERS, 0.0021)
    app = kit_app(collector=collector)
    with running(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client, collector


def test_monitoring_metrics_has_the_spec_fields(served):
    client, _ = served
    r = client.get("/monitoring/metrics")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"create_order", "list_orders"}
    op = body["create_order"]
    assert op["name"] == "create_order"
    assert op["count"] == 4 and isinstance(op["count"], int)
    assert op["error_count"] == 1
    assert op["error_rate"] == 25.0
    assert op["min_duration_ms"] == 1.2
    assert op["max_duration_ms"] == 120.5
    assert op["avg_duration_ms"] == pytest.approx((1.2 + 8.5 + 120.5 + 4.0) / 4, abs=1e-3)
    assert op["total_duration"] == "134.2ms"
    assert op["total_duration_seconds"] == pytest.approx(0.1342)
    assert RFC3339.fullmatch(op["last_recorded"])
    for label in ("1m", "5m"):
        w = op["window"][label]
        assert w["count"] == 4 and w["error_count"] == 1 and w["error_rate"] == 25.0
        assert w["p50_ms"] <= w["p95_ms"] <= w["p99_ms"]
        assert isinstance(w["avg_duration_ms"], float)


def test_monitoring_system_summary(served):
    client, _ = served
    body = client.get("/monitoring/system").json()
    assert set(body) >= {
        "uptime", "total_operations", "total_errors", "error_rate", "avg_latency_ms",
        "max_latency_ms", "monitored_operations",
    }  # fmt: skip
    assert body["total_operations"] == 5
    assert body["total_errors"] == 1
    assert body["error_rate"] == 20.0
    assert body["max_latency_ms"] == 120.5
    assert body["avg_latency_ms"] == pytest.approx((1.2 + 8.5 + 120.5 + 4.0 + 2.1) / 5, abs=1e-3)
    assert body["monitored_operations"] == 2
    assert GO_DURATION.match(body["uptime"])


@pytest.mark.parametrize("param", ["name", "operation"])
def test_monitoring_operation_by_either_parameter(served, param):
    client, _ = served
    r = client.get("/monitoring/operation", params={param: "list_orders"})
    assert r.status_code == 200
    assert r.json()["name"] == "list_orders" and r.json()["count"] == 1


def test_catalogued_but_idle_operation_reads_as_zero(served):
    client, _ = served
    body = client.get("/monitoring/operation?name=auto_signup").json()
    assert body["count"] == 0 and body["avg_duration_ms"] is None
    assert body["last_recorded"] is None


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/monitoring/operation", "GET", 400),
        ("/monitoring/operation?name=", "GET", 400),
        ("/monitoring/operation?name=Bad-Name", "GET", 400),
        ("/monitoring/operation?name=no_such_operation", "GET", 404),
        ("/monitoring/nothing-here", "GET", 404),
        ("/nope", "GET", 404),
        ("/monitoring/metrics", "POST", 405),
        ("/monitoring/system", "DELETE", 405),
        ("/metrics", "POST", 405),
        ("/monitoring/reset", "GET", 405),
    ],
)
def test_bad_requests_get_json_errors(served, path, method, status):
    client, _ = served
    r = client.request(method, path)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]


def test_prometheus_text_exposition_parses(served):
    client, _ = served
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    ops = families["shop_operations"]
    assert ops.type == "counter"
    values = {s.labels["operation"]: s.value for s in ops.samples if s.name.endswith("_total")}
    assert values["create_order"] == 4 and values["list_orders"] == 1
    assert families["shop_operation_duration_seconds"].type == "histogram"
    assert "shop_operation_last_recorded_timestamp_seconds" in families
    assert "process_resident_memory_bytes" in families


def test_openmetrics_negotiation(served):
    client, _ = served
    r = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
    names = {f.name for f in parse_om(r.text)}
    assert "shop_operations" in names


def test_gzip_when_asked(served):
    client, _ = served
    with client.stream("GET", "/metrics", headers={"Accept-Encoding": "gzip"}) as r:
        assert r.headers["content-encoding"] == "gzip"
        body = b"".join(r.iter_raw())
    assert b"shop_operations_total" in gzip.decompress(body)
    plain = client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers


def test_name_filter(served):
    client, _ = served
    r = client.get("/metrics", params={"name[]": "shop_operations_total"})
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert names == {"shop_operations"}


def test_promtool_check_metrics_is_clean(served):
    promtool = require_tool("promtool")
    client, _ = served
    text = client.get("/metrics").text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_live_and_ready_without_database(served):
    client, _ = served
    assert client.get("/monitoring/live").json()["status"] == "alive"
    r = client.get("/monitoring/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    health = client.get("/monitoring/health").json()
    assert health["database"]["status"] == "not_configured"
    assert health["status"] == "healthy"


def test_undecodable_header_or_query_is_never_a_500(served):
    client, _ = served
    r = client.get("/metrics", headers={"Accept": b"text/plain\xe9"})
    assert r.status_code == 200  # an Accept it cannot read is no Accept: the text format
    assert r.headers["content-type"].startswith("text/plain")
    r = client.get("/metrics?name%5B%5D=%FF")
    assert r.status_code == 200 and r.text == ""  # no series has that name
