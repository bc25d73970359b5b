"""The Grafana dashboards: generated JSON is current, and every panel passes the lint.

The lint enforces what Grafana's dashboard linter checks, for this project's metrics: a
``$datasource`` variable that every panel and query uses; a unit and a description on
every panel; ``$__rate_interval`` as the window of range queries; counters only inside
rate()/increase(); only metrics the service exposes or the recording rules produce.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grafana import generate, overview
from grafana.queries import (
    DASHBOARDS_DIR,
    SERVICE_METRICS,
    dashboard_queries,
    load_dashboards,
    selectors,
    substitute,
)
from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
RECORDING_RULES = ROOT / "alerts" / "recording.rules.yml"
PROVISIONING = ROOT / "grafana" / "provisioning"
GRAFANA_MACROS = {"__rate_interval", "__interval", "__range", "__range_s", "__range_ms"}
RANGE_FUNCTIONS_FOR_COUNTERS = {"rate", "increase"}


def recorded_names() -> set[str]:
    groups = yaml.safe_load(RECORDING_RULES.read_text())["groups"]
    return {r["record"] for g in groups for r in g["rules"] if "record" in r}


def all_panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels") or [])
    return out


def data_panels() -> list[tuple[str, dict]]:
    return [
        (name, panel)
        for name, dashboard in load_dashboards().items()
        for panel in all_panels(dashboard)
        if panel.get("type") != "row"
    ]


def lint_expr(expr: str, *, instant: bool, variables: set[str], recorded: set[str]) -> list[str]:
    """Problems with one query; empty if it follows the rules."""
    problems = []
    for used in re.findall(r"\$\{?(\w+)", expr):
        if used not in variables and used not in GRAFANA_MACROS:
            problems.append(f"undefined variable ${used}")
    if re.search(r"\[\s*\d+(?:ms|[smhdwy])", expr):
        problems.append("fixed range window; use $__rate_interval")
    found = selectors(expr)
    if not found:
        problems.append("no series selector found")
    for sel in found:
        if sel.is_recording_rule:
            if sel.name not in recorded:
                problems.append(f"{sel.name} is not a recording rule in {RECORDING_RULES.name}")
            if sel.name.startswith("job") and 'job=~"$job"' not in sel.matchers:
                problems.append(f'{sel.name} lacks job=~"$job"')
        else:
            if sel.name not in SERVICE_METRICS:
                problems.append(f"{sel.name} is not a metric the service exposes")
            for matcher in ('job=~"$job"', 'instance=~"$instance"'):
                if matcher not in sel.matchers:
                    problems.append(f"{sel.name} lacks {matcher}")
        if sel.is_counter and (sel.function not in RANGE_FUNCTIONS_FOR_COUNTERS or not sel.window):
            problems.append(f"counter {sel.name} outside rate()/increase()")
        if sel.function in RANGE_FUNCTIONS_FOR_COUNTERS and not sel.is_counter:
            problems.append(f"{sel.function}() of {sel.name}, which is not a counter")
        if sel.window is not None:
            allowed = {"$__rate_interval"} | ({"$__range"} if instant else set())
            if sel.window not in allowed:
                problems.append(f"window [{sel.window}] of {sel.name}; allowed: {sorted(allowed)}")
    return problems


def lint_panel(panel: dict, *, variables: set[str], recorded: set[str]) -> list[str]:
    problems = []
    want_ds = {"type": "prometheus", "uid": "${datasource}"}
    if panel.get("datasource") != want_ds:
        problems.append(f"panel datasource {panel.get('datasource')} is not $datasource")
    if not (panel.get("description") or "").strip():
        problems.append("no description")
    if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
        problems.append("no unit")
    targets = panel.get("targets") or []
    if not targets:
        problems.append("no queries")
    ref_ids = [t.get("refId") for t in targets]
    if len(set(ref_ids)) != len(ref_ids) or not all(ref_ids):
        problems.append(f"refIds not unique and non-empty: {ref_ids}")
    for target in targets:
        if target.get("datasource") != want_ds:
            problems.append(f"query {target.get('refId')} does not use $datasource")
        instant = bool(target.get("instant")) and not target.get("range")
        for problem in lint_expr(
            target.get("expr", ""), instant=instant, variables=variables, recorded=recorded
        ):
            problems.append(f"query {target.get('refId')}: {problem}")
    return problems


# --- generated JSON is what the code produces -------------------------------------------


def test_committed_dashboards_match_the_generator():
    assert generate.stale_files() == [], "run `make dashboards` and commit the JSON"
    assert sorted(p.name for p in DASHBOARDS_DIR.glob("*.json")) == sorted(generate.DASHBOARDS)


def test_generate_check_cli_passes_on_committed_json_and_fails_on_drift(tmp_path):
    def check(directory: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "grafana.generate", "--check", "--output-dir", str(directory)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    assert check(DASHBOARDS_DIR).returncode == 0
    assert check(tmp_path).returncode == 1  # missing files
    for path in DASHBOARDS_DIR.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text().replace("$__rate_interval", "5m", 1))
    drift = check(tmp_path)
    assert drift.returncode == 1
    assert "out of date" in drift.stderr


def test_generation_is_deterministic():
    first = generate.rendered()
    assert first == generate.rendered()
    for text in first.values():
        json.loads(text)
        assert text.endswith("}\n")


# --- the lint ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lint_context() -> dict:
    return {"recorded": recorded_names()}


def dashboard_variables(name: str) -> set[str]:
    return {v["name"] for v in load_dashboards()[name]["templating"]["list"]}


def test_every_dashboard_has_a_prometheus_datasource_variable():
    for name, dashboard in load_dashboards().items():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert "datasource" in variables, name
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        for var in variables.values():
            if var["type"] == "query":
                assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize(
    ("name", "panel"), data_panels(), ids=[f"{n}:{p.get('title')}" for n, p in data_panels()]
)
def test_panel_passes_lint(name, panel, lint_context):
    problems = lint_panel(panel, variables=dashboard_variables(name), **lint_context)
    assert problems == []


def test_lint_catches_each_kind_of_violation(lint_context):
    variables = {"datasource", "job", "instance"}
    good_ds = {"type": "prometheus", "uid": "${datasource}"}
    scope = 'job=~"$job", instance=~"$instance"'

    def problems(expr: str, instant: bool = False, **panel_overrides) -> list[str]:
        target = {"refId": "A", "expr": expr, "datasource": good_ds}
        if instant:
            target |= {"instant": True, "range": False}
        panel = {
            "type": "timeseries",
            "datasource": good_ds,
            "description": "d",
            "fieldConfig": {"defaults": {"unit": "s"}},
            "targets": [target],
        } | panel_overrides
        return lint_panel(panel, variables=variables, **lint_context)

    ok = f"sum(rate(aiexpense_operations_total{{{scope}}}[$__rate_interval]))"
    assert problems(ok) == []
    assert problems(ok.replace("$__rate_interval", "5m"))  # fixed window
    assert problems(f"sum(aiexpense_operations_total{{{scope}}})")  # bare counter
    assert problems(f"rate(aiexpense_job_queue_depth{{{scope}}}[$__rate_interval])")  # gauge
    assert problems("sum(rate(aiexpense_operations_total[$__rate_interval]))")  # unscoped
    assert problems(f"aiexpense_typo_total{{{scope}}}")  # unknown metric
    assert problems("job:aiexpense_nonexistent:rate5m")  # unknown recording rule
    assert problems(ok.replace("$job", "$tenant"))  # undefined variable
    budget = f"sum(increase(aiexpense_operations_total{{{scope}}}[$__range]))"
    assert problems(budget, instant=True) == []
    assert problems(budget)  # $__range only for instant queries
    assert problems(ok, description="")
    assert problems(ok, fieldConfig={"defaults": {}})
    assert problems(ok, datasource={"type": "prometheus", "uid": "prometheus"})


def test_panel_ids_unique_and_layout_fits_the_grid():
    for name, dashboard in load_dashboards().items():
        panels = all_panels(dashboard)
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), name
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not area & cells, f"{panel['title']} overlaps another panel"
            cells |= area


def test_overview_has_the_spec_panels():
    dashboard = load_dashboards()["aiexpense-overview.json"]
    titles = [p["title"].lower() for p in all_panels(dashboard)]
    queries = {
        p["title"].lower(): [t["expr"] for t in p.get("targets", [])] for p in all_panels(dashboard)
    }
    wanted = {
        "latency p50 / p95 / p99": "histogram_quantile(0.99",
        "error rate by operation": "aiexpense_operation_errors_total",
        "throughput": "aiexpense_operations_total",
        "memory": "process_resident_memory_bytes",
        "pool connections": "aiexpense_db_pool_connections",
        "cache hit rate": "aiexpense_cache_requests_total",
        "job queue depth": "aiexpense_job_queue_depth",
        "health status": "aiexpense_health_status",
        "error budget": "aiexpense:slo_error_budget:ratio",
    }
    for words, metric in wanted.items():
        matching = [t for t in titles if words in t]
        assert matching, f"no panel titled like {words!r}"
        assert any(metric in e for t in matching for e in queries[t]), (words, metric)


def test_dashboard_uses_the_alerts_sli_operation_set():
    sli = overview.sli_operations()
    assert "create_expense" in sli and "db_query" not in sli
    text = (DASHBOARDS_DIR / "aiexpense-overview.json").read_text()
    assert json.dumps(sli)[1:-1] in text


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


# --- the query helper for the end-to-end test ---------------------------------------------


def test_dashboard_queries_substitutes_every_macro_and_variable():
    queries = dashboard_queries(rate_interval="4s", interval="1s", range_="2m")
    assert len(queries) >= 30
    for q in queries:
        assert "$" not in q.promql and "[[" not in q.promql, q.promql
        assert q.dashboard == overview.UID
    windows = {w for q in queries for w in re.findall(r"\[([^\]]+)\]", q.promql)}
    assert windows == {"4s", "2m"}
    assert any(q.instant for q in queries) and any(not q.instant for q in queries)


def test_substitute_handles_grafana_syntaxes_and_overrides():
    expr = 'rate(x{job=~"$job",i=~"${instance}",o=~"[[operation]]"}[$__rate_interval]) > $__range_s'
    out = substitute(expr, rate_interval="8s", range_="5m", variables={"instance": "a:1|b:2"})
    assert out == 'rate(x{job=~"aiexpense",i=~"a:1|b:2",o=~".*"}[8s]) > 300'
    assert substitute("increase(x[$__range])", range_="1d") == "increase(x[1d])"
    assert substitute("$__interval_ms", interval="15s") == "15000"
    with pytest.raises(KeyError):
        substitute("x{a=~'$unknown'}")


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
