"""The status page over HTTP and as HTML: its figures against the JSON views of the same
snapshot, content negotiation, sorting, its security headers, and that it never reaches the
database. (The page in a real browser: test_status_page_browser.py.)"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from exporter import HealthChecker, MetricsCollector, MonitoringHandler
from exporter.status.page import FALLBACK_RUNBOOK, RUNBOOKS, StatusPage, prefers_html
from exporter.status.render import Sort
from exporter.status.snapshot import Snapshot
from tests.kit.app import kit_app
from tests.kit.catalog import Op
from tests.kit.status_dom import Node, parse
from tests.support import running, thresholds

ROOT = Path(__file__).resolve().parents[2]
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
NOW = 1_790_000_000.0  # a clock that stops here: the figures stand still between requests

# Where each column's figure is in the /monitoring/metrics body (written out here rather than
# taken from the page's code, so a column showing the wrong field fails).
JSON_FIELDS = {
    "name": ("name",),
    "count": ("count",),
    "errors": ("error_count",),
    "error_rate": ("error_rate",),
    "avg": ("avg_duration_ms",),
    **{
        f"{key}_{w}": ("window", w, field)
        for w in ("1m", "5m")
        for key, field in (
            ("error_rate", "error_rate"),
            ("p50", "p50_ms"),
            ("p95", "p95_ms"),
            ("p99", "p99_ms"),
        )
    },
    "min": ("min_duration_ms",),
    "max": ("max_duration_ms",),
    "last": ("last_recorded",),
}


def fill(collector: MetricsCollector) -> None:
    """Three operations with different volumes, latencies and failures."""
    for i in range(40):
        collector.record_operation(Op.CREATE_ORDER, 0.002 + i * 0.0001, error=i % 10 == 0)
    for i in range(25):
        collector.record_operation(Op.LIST_ORDERS, 0.0008 + i * 0.00002)
    for i in range(12):
        collector.record_operation(Op.GET_USER, 0.03 + i * 0.001, error=i % 3 == 0)


def frozen_collector() -> MetricsCollector:
    """Three minutes of ``fill`` a minute apart, then the clock stops at NOW."""
    clock = [NOW - 180.0]
    collector = MetricsCollector(namespace="shop", clock=lambda: clock[0], version="1.4.2")
    for _ in range(3):
        fill(collector)
        clock[0] += 60.0
    return collector


def field_of(op: dict, key: str):
    value = op
    for part in JSON_FIELDS[key]:
        value = value[part]
    return value


def shown(cell: Node, key: str):
    """A cell's figure as the JSON would have it."""
    if cell.text == "–":
        return None
    if key == "name":
        return cell.text
    if key == "last":
        return cell.find("time")[0].attrs["datetime"]
    if key in ("count", "errors"):
        return int(cell.text.replace(",", ""))
    return float(cell.text)


def table(page: Node) -> tuple[list[str], dict[str, list[Node]]]:
    """The column keys in order, and each operation's cells."""
    header = page.by_id("ops-table").find("thead")[0].find("tr")[1]
    keys = [a.attrs["id"].removeprefix("sort-") for a in header.find("a")]
    rows = page.by_id("ops-table").find("tbody")[0].find("tr")
    return keys, {row.attrs["id"].removeprefix("op-"): row.cells() for row in rows}


def assert_page_matches(
    page: Node, operations: dict, system: dict, health: dict, history: list
) -> None:
    keys, rows = table(page)
    assert keys == list(JSON_FIELDS)
    assert set(rows) == set(operations)
    for name, cells in rows.items():
        assert len(cells) == len(keys)
        for key, cell in zip(keys, cells, strict=True):
            assert shown(cell, key) == field_of(operations[name], key), (name, key)
    totals = dict(zip(
        [dt.text for dt in page.by_id("totals").find("dt")],
        [dd.text for dd in page.by_id("totals").find("dd")],
        strict=True,
    ))  # fmt: skip
    assert int(totals["Operations"].replace(",", "")) == system["total_operations"]
    assert int(totals["Errors"].replace(",", "")) == system["total_errors"]
    assert float(totals["Error %"]) == system["error_rate"]
    assert float(totals["Average ms"]) == system["avg_latency_ms"]
    assert float(totals["Slowest ms"]) == system["max_latency_ms"]
    assert page.by_id("uptime").text == system["uptime"]
    assert len(history) == 3
    for key, field in (("rate", "rate"), ("errors", "error_rate"), ("p95", "p95_ms")):
        chart = page.by_id(f"spark-{key}")
        assert float(chart.find("div", **{"class": "now"})[0].text.split()[0]) == history[-1][field]
        peak = float(chart.find("span", **{"class": "peak"})[0].text)
        assert peak == max(p[field] for p in history)
        line = chart.find("polyline")[0].attrs["points"]
        assert len(line.split()) == len(history)
    assert page.by_id("overall").text == health["status"]
    for name, check in health["checks"].items():
        item = page.by_id(f"check-{name}")
        assert item.find("span", **{"class": "word"})[0].text == check["status"]
        assert check["reason"] in item.text


@pytest.fixture
def sampled() -> MonitoringHandler:
    collector = frozen_collector()
    checker = HealthChecker(None, collector, thresholds())
    asyncio.run(checker.sample())
    return MonitoringHandler(checker, collector, system_extras=[lambda: {"queue_depth": 7}])


def test_page_shows_the_json_views_of_its_snapshot(sampled):
    snap = sampled.snapshot()
    page = parse(StatusPage("shop").render(snap), strict=True)
    assert_page_matches(page, snap.operations, snap.system, snap.health, snap.history)
    assert "Queue depth" in page.by_id("totals").text and "7" in page.by_id("totals").text


def test_page_equals_the_json_endpoints_over_http():
    collector = frozen_collector()
    app = kit_app(collector=collector)
    with running(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        r = client.get("/monitoring/")
        bare = client.get("/monitoring", follow_redirects=False)
        operations = client.get("/monitoring/metrics").json()
        system = client.get("/monitoring/system").json()
        health = client.get("/monitoring/health").json()
        history = client.get("/monitoring/history").json()
    assert set(history[0]) == {"at", "seconds", "count", "errors", "rate", "error_rate", "p95_ms"}
    assert sum(p["count"] for p in history) == system["total_operations"]
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text == bare.text  # /monitoring too, without a redirect
    assert_page_matches(parse(r.text, strict=True), operations, system, health, history)


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("application/json;q=0.5, text/html", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
        ("application/health+json", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0.8, */*;q=0.8", False),
        ("text/html;q=bogus", False),
    ],
)
def test_html_is_served_only_when_preferred(accept, html):
    assert prefers_html(accept) is html


def test_health_answers_a_browser_with_the_page_and_keeps_its_status_code():
    # Memory over a 1 MB threshold: unhealthy, so /monitoring/health must stay a 503.
    tiny = thresholds(memory_degraded_mb=0.5, memory_unhealthy_mb=1.0)
    app = kit_app(collector=frozen_collector(), thresholds=tiny)
    with running(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        page = client.get("/monitoring/health", headers={"Accept": BROWSER_ACCEPT})
        json = client.get("/monitoring/health")
        status_page = client.get("/monitoring/", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == json.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == "5"
    assert "accept" in page.headers["vary"].lower()
    assert json.headers["content-type"] == "application/json"
    assert status_page.status_code == 200  # the page itself rendered fine
    dom = parse(page.text)
    assert dom.by_id("overall").text == "unhealthy" == json.json()["status"]
    memory = dom.by_id("check-memory")
    assert json.json()["checks"]["memory"]["reason"] in memory.text
    assert "1MB" in memory.text  # the threshold it is judged against
    assert memory.find("a")[0].attrs["href"] == "docs/runbooks.md#highmemory"


def test_failing_check_links_its_runbook_under_the_configured_url():
    collector = frozen_collector()
    checker = HealthChecker(None, collector, thresholds(memory_degraded_mb=0.5,
                                                        memory_unhealthy_mb=1.0))  # fmt: skip
    asyncio.run(checker.sample())
    handler = MonitoringHandler(checker, collector, runbook_url="https://docs.example/rb.md",
                                runbooks={"memory": "memory-pressure"})  # fmt: skip
    with running(Starlette(routes=handler.routes()), lifespan="off") as url:
        page = parse(httpx.get(f"{url}/monitoring/", timeout=10).text)
    links = [a.attrs["href"] for a in page.by_id("check-memory").find("a")]
    assert links == ["https://docs.example/rb.md#memory-pressure"]
    overall = [a.attrs["href"] for a in page.find("header")[0].find("a")]
    assert overall == [f"https://docs.example/rb.md#{FALLBACK_RUNBOOK}"]
    assert page.by_id("check-sampler").find("a") == []  # healthy: no runbook


def test_every_runbook_the_page_links_is_a_section_of_the_runbooks():
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", (ROOT / "docs/runbooks.md").read_text(), re.M)
    anchors = {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}
    linked = {*RUNBOOKS.values(), FALLBACK_RUNBOOK}
    linked |= {"databasepoolrequestswaiting", "databasepoolsaturated"}
    assert linked <= anchors, linked - anchors


def served_page(client: httpx.Client, **params: str) -> Node:
    r = client.get("/monitoring/", params=params)
    assert r.status_code == 200, r.text
    return parse(r.text)


def order(page: Node) -> list[str]:
    return list(table(page)[1])


def test_sorting_by_links_worst_first_by_default():
    app = kit_app(collector=frozen_collector())
    with running(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        ops = client.get("/monitoring/metrics").json()
        # get_user fails 4 in 12 (33%), create_order 4 in 40 (10%), list_orders never.
        assert order(served_page(client)) == ["get_user", "create_order", "list_orders"]
        by_count = served_page(client, sort="count")
        assert order(by_count) == sorted(ops, key=lambda n: -ops[n]["count"])
        assert by_count.by_id("sort-count").attrs["href"] == "?sort=count&dir=asc"
        header = [th for th in by_count.find("th") if th.attrs.get("aria-sort")]
        assert [(th.text, th.attrs["aria-sort"]) for th in header] == [("Count ▼", "descending")]
        ascending = served_page(client, sort="p95_5m", dir="asc")
        p95 = [ops[n]["window"]["5m"]["p95_ms"] for n in order(ascending)]
        assert p95 == sorted(p95)
        assert order(served_page(client, sort="name")) == sorted(ops)
        bad = client.get("/monitoring/", params={"sort": "<script>"})
        assert bad.status_code == 400
        assert "unknown sort" in bad.json()["error"] and "count" in bad.json()["sort"]
        assert client.get("/monitoring/", params={"dir": "up"}).status_code == 400


def test_operations_without_a_figure_sort_last_either_way():
    collector = frozen_collector()
    collector.record_operation(Op.AUTO_SIGNUP, 0.001)
    handler = MonitoringHandler(None, collector)
    snap = handler.snapshot()
    # An operation with no p95 over 5 minutes (none recorded in it), as the JSON says then.
    snap.operations["auto_signup"]["window"]["5m"]["p95_ms"] = None
    page = StatusPage("shop")
    for direction in ("asc", "desc"):
        dom = parse(page.render(snap, Sort.parse("p95_5m", direction)))
        assert order(dom)[-1] == "auto_signup"


def test_security_headers_and_nothing_from_outside():
    app = kit_app(collector=frozen_collector())
    with running(app) as url:
        r = httpx.get(f"{url}/monitoring/", timeout=10)
    csp = dict(
        part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";")
    )
    assert csp["default-src"] == "'none'"
    assert csp["img-src"] == "data:" and csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe" not in r.headers["content-security-policy"]
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", r.text, re.S)
        assert len(blocks) == 1
        digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
        assert csp[directive] == f"'sha256-{digest}'"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert not re.search(r"\sstyle=", r.text)  # a strict CSP blocks style attributes
    assert not re.search(r"<script[^>]+src|<link[^>]+stylesheet|https?://(?!www\.w3\.org)", r.text)


def test_strings_from_the_service_are_escaped():
    collector = frozen_collector()
    evil = '<img src=x onerror="alert(1)">'
    handler = MonitoringHandler(None, collector, system_extras=[lambda: {"note": evil}])
    html = StatusPage('shop"><script>alert(1)</script>').render(handler.snapshot())
    assert evil not in html and "<script>alert(1)" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def snapshot_with(health: dict | None) -> Snapshot:
    collector = frozen_collector()
    snap = MonitoringHandler(None, collector).snapshot()
    return Snapshot(snap.operations, snap.system, health, snap.history, snap.version)


def test_sparklines_follow_each_new_history_step():
    clock = [NOW]
    collector = MetricsCollector(namespace="shop", clock=lambda: clock[0])
    handler, page = MonitoringHandler(None, collector), StatusPage("shop")

    def drawn() -> tuple[int, float]:
        chart = parse(page.render(handler.snapshot())).by_id("spark-rate")
        now = float(chart.find("div", **{"class": "now"})[0].text.split()[0])
        return len(chart.find("polyline")[0].attrs["points"].split()), now

    for minute, rate in ((1, 0.1), (2, 0.2), (3, 0.3)):  # 6, 12, 18 operations a minute
        for _ in range(6 * minute):
            collector.record_operation(Op.GET_USER, 0.001)
        clock[0] += 60.0
        points = max(2, minute)  # a point alone is drawn as a short flat line
        assert drawn() == (points, rate)
        assert drawn() == (points, rate)  # the same step again: the same drawing


def test_page_shows_what_pluggable_checks_report():
    # The shape of a service's own check (HealthChecker.add_check): criticality, groups and
    # details, which the page shows as they come.
    health = {
        "status": "degraded",
        "uptime": "1m0s",
        "checks": {
            "cache": {
                "status": "degraded",
                "reason": "hit rate 41% < 70%",
                "critical": False,
                "groups": ["readiness"],
                "details": {"hit_rate": 41.2, "entries": 1200},
            }
        },
    }
    page = parse(StatusPage("shop").render(snapshot_with(health)), strict=True)
    cache = page.by_id("check-cache")
    assert "hit rate 41% < 70%" in cache.text
    assert "not critical" in cache.text and "readiness" in cache.text
    assert "hit rate 41.2" in cache.text and "entries 1,200" in cache.text
    assert [a.attrs["href"] for a in cache.find("a")] == [f"docs/runbooks.md#{FALLBACK_RUNBOOK}"]


def test_pool_under_pressure_links_the_pool_runbooks():
    database = {
        "status": "degraded", "ping": True, "ping_seconds": 0.0012, "error": None,
        "open_connections": 10, "in_use_connections": 9, "idle_connections": 1,
        "max_connections": 10, "requests_waiting": 3,
    }  # fmt: skip
    health = {"status": "degraded", "database": database}
    page = parse(StatusPage("shop").render(snapshot_with(health)), strict=True)
    pool = page.by_id("pool")
    assert "9 of 10 max" in pool.text and "3 requests wait for a connection" in pool.text
    assert "1.200 ms" in pool.text  # the ping
    assert [a.attrs["href"] for a in pool.find("a")] == [
        "docs/runbooks.md#databasepoolrequestswaiting",
        "docs/runbooks.md#databasepoolsaturated",
    ]
    calm = {**database, "in_use_connections": 2, "idle_connections": 8, "requests_waiting": 0}
    quiet = parse(StatusPage("shop").render(snapshot_with({"status": "healthy", "database": calm})))
    assert quiet.by_id("pool").find("a") == []


def test_page_with_health_details_hidden_shows_the_status_alone():
    page = parse(StatusPage("shop").render(snapshot_with({"status": "degraded"})), strict=True)
    assert page.by_id("overall").text == "degraded"
    assert "hidden" in page.by_id("checks").text
    assert "No figures" in page.by_id("pool").text and "No figures" in page.by_id("memory").text


def test_page_without_health_or_traffic_still_renders():
    collector = MetricsCollector(namespace="shop")
    page = parse(StatusPage("shop").render(MonitoringHandler(None, collector).snapshot()))
    assert page.by_id("overall").text == "unknown"
    assert "No operation recorded yet" in page.by_id("operations").text
    assert "No health sample" in page.by_id("checks").text


def test_page_requests_never_reach_the_database(database):
    pool = AsyncConnectionPool(database.url, min_size=1, max_size=2, open=False)
    app = kit_app(pool, collector=frozen_collector(), thresholds=thresholds(interval_seconds=60))
    with running(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        before = pool.get_stats().get("requests_num", 0)
        for _ in range(30):
            assert client.get("/monitoring/").status_code == 200
            health = client.get("/monitoring/health", headers={"Accept": "text/html"})
            assert health.headers["content-type"].startswith("text/html")
        assert pool.get_stats().get("requests_num", 0) == before
        page = served_page(client)
    assert "of 2 max" in page.by_id("pool").text
