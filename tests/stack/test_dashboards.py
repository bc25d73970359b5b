"""The Grafana dashboard (the generator's, for service/monitoring.toml and aiexpense.ops):
every panel passes the kit's lint, and holds the spec's panels and the service's own rows.

The lint enforces what Grafana's dashboard linter checks, for this service's series: a
``$datasource`` variable that every panel and query uses; a unit and a description on every
panel; ``$__rate_interval`` as the window of range queries; counters only inside
rate()/increase(); only series the service exposes or the recording rules produce, each
filtered by the job and instance. That the committed JSON is the generator's is
tests/stack/test_alert_rules.py's one-source test.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from aiexpense.ops import EXTENSIONS
from aiexpense.ops.common import SLI
from exporter.assets.lint import lint, panels
from tests.ops import dashboard, dashboard_queries, service_metrics
from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
RECORDING_RULES = ROOT / "alerts" / "recording.rules.yml"
PROVISIONING = ROOT / "grafana" / "provisioning"
DASHBOARDS_DIR = ROOT / "grafana" / "dashboards"


def recorded_names() -> frozenset[str]:
    groups = yaml.safe_load(RECORDING_RULES.read_text())["groups"]
    return frozenset(r["record"] for g in groups for r in g["rules"] if "record" in r)


def problems_of(board: dict) -> list[str]:
    return lint(board, metrics=service_metrics(), recorded=recorded_names())


def data_panels(board: dict) -> list[dict]:
    return [p for p in panels(board) if p.get("type") != "row"]


# --- the lint ---------------------------------------------------------------------------


def test_the_dashboard_is_the_only_one_and_passes_the_lint():
    assert [p.name for p in DASHBOARDS_DIR.glob("*.json")] == ["aiexpense-overview.json"]
    board = dashboard()
    assert board["uid"] == "aiexpense-overview"
    assert problems_of(board) == []


def test_the_lint_catches_each_kind_of_violation():
    good = dashboard()
    title = "Cache entries"
    expr = next(p for p in data_panels(good) if p["title"] == title)["targets"][0]["expr"]

    def with_panel(**changes: object) -> list[str]:
        broken = json.loads(json.dumps(good))
        target = next(p for p in data_panels(broken) if p["title"] == title)
        target.update({k: v for k, v in changes.items() if k != "expr"})
        if "expr" in changes:
            target["targets"][0]["expr"] = changes["expr"]
        return problems_of(broken)

    assert with_panel() == []
    scope = 'job=~"$job", instance=~"$instance"'
    assert with_panel(expr=f"sum(rate(aiexpense_cache_entries{{{scope}}}[5m]))")  # gauge, window
    assert with_panel(expr=f"sum(aiexpense_cache_requests_total{{{scope}}})")  # bare counter
    assert with_panel(expr=expr.replace("aiexpense_cache_entries", "aiexpense_cache_typo"))
    assert with_panel(expr=expr.replace('job=~"$job", ', ""))  # unscoped
    assert with_panel(expr=expr.replace("$job", "$tenant"))  # undefined variable
    assert with_panel(expr='job:aiexpense_nonexistent:rate5m{job=~"$job"}')
    assert with_panel(description="")
    assert with_panel(fieldConfig={"defaults": {}})
    assert with_panel(datasource={"type": "prometheus", "uid": "prometheus"})


def test_panel_ids_unique_and_layout_fits_the_grid():
    board = dashboard()
    every = list(panels(board))
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in every:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_overview_has_the_spec_panels_and_the_services_rows():
    board = dashboard()
    rows = [p["title"] for p in panels(board) if p.get("type") == "row"]
    own = [row.title for ext in EXTENSIONS for row in ext.rows]
    assert own == ["Latency", "Caches", "Job queue", "Replies", "Credentials"]
    assert rows[-len(own) :] == own  # the service's rows follow the generated ones
    assert {"At a glance", "Operations", "Health", "Database", "Process", "SLO"} <= set(rows)
    queries = {p["title"].lower(): [t["expr"] for t in p["targets"]] for p in data_panels(board)}
    wanted = {
        "request latency p50 / p95 / p99": "histogram_quantile(0.99",
        "error ratio by operation": "aiexpense_operation_errors_total",
        "throughput": "aiexpense_operations_total",
        "memory": "process_resident_memory_bytes",
        "pool connections": "aiexpense_db_pool_connections",
        "cache hit rate": "aiexpense_cache_requests_total",
        "invalidation listener": "aiexpense_cache_listener_up",
        "job queue depth": "aiexpense_job_queue_depth",
        "replies by outcome": "aiexpense_replies_total",
        "health status": "aiexpense_health_status",
        "error budget": "aiexpense:slo_availability_error_budget:ratio",
    }
    for words, metric in wanted.items():
        matching = [t for t in queries if words in t]
        assert matching, f"no panel titled like {words!r}"
        assert any(metric in e for t in matching for e in queries[t]), (words, metric)


def test_every_panel_has_a_query():
    # an empty panel is as useless as an alert that cannot fire
    for panel in data_panels(dashboard()):
        assert panel.get("targets"), panel["title"]


def test_the_request_panels_count_the_slo_operations():
    text = json.dumps(dashboard())
    assert json.dumps(SLI)[1:-1] in text
    assert "create_expense" in SLI and "db_query" not in SLI


# --- every query is valid PromQL (promtool parses them as recording rules) -----------------


def test_every_query_parses_as_promql(tmp_path):
    promtool = require_tool("promtool")
    queries = dashboard_queries(rate_interval="1m", range_="30d")
    rules = [{"record": f"dashboard:query_{i}", "expr": q.promql} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard-queries.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_substitute_every_macro_and_variable():
    queries = dashboard_queries(rate_interval="4s", interval="1s", range_="2m")
    assert len(queries) >= 30
    for q in queries:
        assert "$" not in q.promql and "[[" not in q.promql, q.promql
    windows = {w for q in queries for w in re.findall(r"\[([^\]]+)\]", q.promql)}
    assert windows == {"4s", "2m"}
    assert any(q.instant for q in queries) and any(not q.instant for q in queries)


# --- provisioning -------------------------------------------------------------------------


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards():
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (prom,) = datasources["datasources"]
    assert prom["type"] == "prometheus"
    assert prom["url"] == "http://prometheus:9090"
    assert prom["isDefault"] is True

    providers = yaml.safe_load((PROVISIONING / "dashboards" / "aiexpense.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
