"""Generated rules: promtool accepts them and their generated tests pass, every alert is
proven (fires, stays quiet, resolves), only the spec's parts get alerts, and every series a
rule reads is one the kit really exposes under the spec's namespace."""

from __future__ import annotations

import pytest
import yaml
from prometheus_client import CollectorRegistry, Metric

from exporter import HealthChecker, HttpMetricsMiddleware, MetricsCollector
from exporter.assets import generate, ruleset
from exporter.assets.lint import selectors
from exporter.assets.series import Series
from tests.kit.assets.helpers import SPECS, run, spec, written

DB_ALERTS = {"DatabaseDown", "DatabasePoolSaturated", "DatabasePoolRequestsWaiting"}
NAMES = sorted(SPECS)


@pytest.mark.slow  # promtool runs hours of simulated series: 5-15 s a spec
@pytest.mark.parametrize("name", NAMES)
def test_promtool_checks_the_rules_and_passes_their_generated_tests(name, tmp_path):
    out = written(spec(name), tmp_path)
    rules = out / "prometheus"
    check = run(
        "promtool",
        "check",
        "rules",
        "--lint=all",
        "--lint-fatal",
        str(rules / "recording.rules.yml"),
        str(rules / "alerts.rules.yml"),
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tested = run("promtool", "test", "rules", "alerts_test.yml", cwd=rules / "tests")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.parametrize("name", NAMES)
def test_every_alert_rule_fires_stays_quiet_and_resolves_in_its_tests(name):
    files = generate(spec(name))
    tests = yaml.safe_load(files["prometheus/tests/alerts_test.yml"])["tests"]
    for group in yaml.safe_load(files["prometheus/alerts.rules.yml"])["groups"]:
        for rule in group["rules"]:
            labels = {k: str(v) for k, v in rule["labels"].items()}
            seen = {"fires": False, "quiet": False, "resolves": False}
            for test in tests:
                points = sorted(
                    (
                        _minutes(c["eval_time"]),
                        any(
                            all(str(a["exp_labels"].get(k)) == v for k, v in labels.items())
                            for a in c["exp_alerts"]
                        ),
                    )
                    for c in test["alert_rule_test"]
                    if c["alertname"] == rule["alert"]
                )
                first = next((t for t, firing in points if firing), None)
                if first is None:
                    continue
                seen["fires"] = True
                seen["quiet"] |= any(not f and t < first for t, f in points)
                seen["resolves"] |= any(not f and t > first for t, f in points)
            assert all(seen.values()), (rule["alert"], labels, seen)


def _minutes(text: str) -> int:
    assert text.endswith("m"), text
    return int(text[:-1])


def test_a_spec_without_a_database_has_no_database_alert():
    names = set(ruleset(spec("billing-no-database")).names())
    assert not names & DB_ALERTS
    assert {
        "TargetDown",
        "TargetAbsent",
        "HighErrorRate",
        "ErrorBudgetBurn",
        "HighMemory",
        "ServiceUnhealthy",
        "HealthSamplerStale",
        "SlowOperations",
        "HttpRouteServerErrors",
    } <= names
    assert "HealthCheckFailing" not in names  # no checks of its own
    text = "".join(generate(spec("billing-no-database")).values())
    assert "billing_db_" not in text


def test_only_the_parts_a_spec_names_get_alerts():
    with_db = set(ruleset(spec("ledger-database-workers")).names())
    assert DB_ALERTS | {"HealthCheckFailing", "LatencyBudgetBurn"} <= with_db
    http_only = set(ruleset(spec("routes-http-only")).names())
    assert not http_only & {"SlowOperations", "ServiceUnhealthy", "HighMemory", *DB_ALERTS}


def test_burn_rate_alerts_cover_the_workbook_windows_with_the_spec_paging():
    rules = ruleset(spec("ledger-database-workers"))
    burns = [a for a in rules.alerts() if a.name == "ErrorBudgetBurn"]
    assert {
        (a.labels["long_window"], a.labels["short_window"], a.severity, a.for_) for a in burns
    } == {
        ("1h", "5m", "page", "2m"),
        ("6h", "30m", "page", "15m"),
        ("1d", "2h", "ticket", "1h"),
        ("3d", "6h", "ticket", "3h"),
    }
    assert all(a.labels["team"] == "ledger" for a in rules.alerts())
    by_name = {a.name: a for a in rules.alerts()}
    assert by_name["HttpRouteServerErrors"].severity == "ticket"  # the spec's paging


def test_the_objective_is_one_constant_and_memory_counts_every_worker():
    files = generate(spec("ledger-database-workers"))
    recording = files["prometheus/recording.rules.yml"]
    assert recording.count("vector(0.995)") == 1 and recording.count("vector(0.98)") == 1
    alerts = files["prometheus/alerts.rules.yml"]
    assert f'process_resident_memory_bytes{{job="ledger-api"}} > {4 * 256 * 1024 * 1024}' in alerts


def test_runbook_urls_point_at_a_section_of_the_generated_runbooks():
    files = generate(spec("ledger-database-workers"))
    runbooks = files["runbooks.md"]
    headings = {
        line[3:].strip().lower() for line in runbooks.splitlines() if line.startswith("## ")
    }
    for group in yaml.safe_load(files["prometheus/alerts.rules.yml"])["groups"]:
        for rule in group["rules"]:
            base, anchor = rule["annotations"]["runbook_url"].split("#")
            assert base == SPECS["ledger-database-workers"]["runbook_url"]
            assert anchor in headings, anchor
            section = runbooks.split(f"## {rule['alert']}\n", 1)[1].split("\n## ", 1)[0]
            assert "**Means.**" in section and "**Fix.**" in section
    assert "ledger-api" in runbooks and "250ms" not in runbooks


# -- the series the rules read are the kit's ------------------------------------------------


def exposed_names(namespace: str) -> set[str]:
    """Sample names the kit's own objects expose under ``namespace`` (families with no
    sample yet included: a rule may read a series before its first sample)."""
    from starlette.applications import Starlette

    from exporter.health.builtin import PoolCounters

    collector = MetricsCollector(CollectorRegistry(), namespace=namespace)
    HttpMetricsMiddleware(Starlette(), collector=collector)
    HealthChecker(None, collector)
    PoolCounters(collector)  # what a HealthChecker with a pool registers
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "info": ("_info",),
        "gauge": ("",),
        "stateset": ("",),
    }
    names: set[str] = set()
    family: Metric
    for family in collector.registry.collect():
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


@pytest.mark.parametrize("name", NAMES)
def test_every_raw_series_a_rule_reads_is_exposed_by_the_kit(name):
    s = spec(name)
    exposed = exposed_names(s.namespace) | {"up"}
    assert Series(s.namespace).all_exposed() <= exposed
    groups = [
        g
        for key in ("recording", "alerts")
        for g in yaml.safe_load(generate(s)[f"prometheus/{key}.rules.yml"])["groups"]
    ]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    for group in groups:
        for rule in group["rules"]:
            for sel in selectors(rule["expr"]):
                if sel.is_recorded:
                    assert sel.name in recorded, (rule, sel.name)
                else:
                    assert sel.name in exposed, (rule.get("alert") or rule["record"], sel.name)
