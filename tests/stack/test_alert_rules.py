"""The Prometheus rules in alerts/ (the generator's output for service/monitoring.toml and
aiexpense.ops): promtool's checks, the generated unit tests, the conventions, and the one
source (regenerating changes no committed file).

promtool comes with Debian's `prometheus` package. Outside CI a missing promtool skips the
tests that need it; with CI=true it fails them (nothing may be skipped in CI).
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiexpense.ops import EXTENSIONS
from aiexpense.ops.common import SLI_OPERATIONS
from exporter.assets import stale
from tests.ops import assets, spec
from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.rules.yml"))
RULE_TEST_FILES = sorted((ALERTS / "tests").glob("*.yml"))
RUNBOOKS = ROOT / "docs" / "runbooks.md"
SEVERITIES = {"page", "warning", "ticket"}

# The spec's four alerts (Part 6): name -> (severity, for).
SPEC_ALERTS = {
    "HighErrorRate": ("page", "5m"),
    "DatabaseDown": ("page", "1m"),
    "HighMemory": ("warning", "5m"),
    "SlowOperations": ("warning", "10m"),
}


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool")


def load_rule_groups() -> list[dict[str, Any]]:
    groups = []
    for path in RULE_FILES:
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_rule_groups() for rule in group["rules"] if "alert" in rule]


def rule_id(rule: dict[str, Any]) -> str:
    extra = ",".join(f"{k}={v}" for k, v in sorted(rule.get("labels", {}).items()))
    return f"{rule['alert']}[{extra}]"


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {github_anchor(h) for h in headings}


def parse_duration(text: str) -> int:
    """Prometheus duration ("1h30m", "90s") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"bad duration {text!r}"
    return int(sum(int(n) * units[u] for n, u in parts))


# --- one source ------------------------------------------------------------------------


def test_every_committed_ops_file_is_what_the_generator_gives():
    # alerts/, the dashboard, the runbooks, the PrometheusRule, the ServiceMonitor and the
    # Alertmanager config: edited by hand, they would drift from the spec; `make assets`
    files = assets()
    assert {
        "alerts/recording.rules.yml",
        "alerts/alerts.rules.yml",
        "alerts/tests/alerts_test.yml",
        "grafana/dashboards/aiexpense-overview.json",
        "docs/runbooks.md",
        "deploy/kubernetes/base/prometheusrule.yaml",
        "deploy/kubernetes/base/servicemonitor.yaml",
        "deploy/alertmanager/alertmanager.yml",
    } == set(files)
    assert stale(files, ROOT) == [], "run `make assets`"


def test_the_one_source_check_fails_on_a_hand_edit(tmp_path):
    files = assets()
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert stale(files, tmp_path) == []
    edited = tmp_path / "alerts" / "alerts.rules.yml"
    edited.write_text(edited.read_text().replace("for: 5m", "for: 6m", 1))
    assert stale(files, tmp_path) == ["alerts/alerts.rules.yml"]


def test_the_slo_counts_the_operations_the_extension_compares():
    # the canary and the request-latency rules (aiexpense.ops) use the spec's SLI set
    assert spec().slo.operations == SLI_OPERATIONS


# --- promtool ---------------------------------------------------------------------------


def test_rule_files_exist():
    names = {p.name for p in RULE_FILES}
    assert names == {"recording.rules.yml", "alerts.rules.yml"}
    assert [p.name for p in RULE_TEST_FILES] == ["alerts_test.yml"]


def test_promtool_check_rules_with_lint(promtool):
    result = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=lambda p: p.name)
def test_promtool_rule_unit_tests(promtool, test_file):
    result = subprocess.run(
        [promtool, "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=test_file.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def recorded_names_read_by(expr: str, recorded: set[str]) -> set[str]:
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) & recorded


def test_recording_rules_read_only_series_recorded_above_them_in_their_group():
    # Groups run in no fixed order (Prometheus: independent timers; promtool: random unless
    # pinned), so a recording rule reading another group's output sees this evaluation's value
    # or the previous one's by chance. That made slo_test.yml fail about one run in five.
    groups = load_rule_groups()
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    for group in groups:
        above: set[str] = set()
        for rule in group["rules"]:
            if "record" not in rule:
                continue
            missing = recorded_names_read_by(rule["expr"], recorded) - above
            assert not missing, f"{rule['record']} reads {missing} not recorded above it"
            above.add(rule["record"])


def test_every_rule_test_file_pins_the_group_order():
    # Alerts read recorded series from other groups; group_eval_order makes promtool evaluate
    # recording groups first, every run. A group left out would be ordered at random again.
    groups = load_rule_groups()
    recording = [g["name"] for g in groups if all("record" in r for r in g["rules"])]
    alerting = [g["name"] for g in groups if all("alert" in r for r in g["rules"])]
    assert sorted(recording + alerting) == sorted(g["name"] for g in groups)
    for test_file in RULE_TEST_FILES:
        order = yaml.safe_load(test_file.read_text()).get("group_eval_order", [])
        assert sorted(order) == sorted(recording + alerting), test_file.name
        assert set(order[: len(recording)]) == set(recording), test_file.name


def test_every_rule_test_file_loads_every_rule_file():
    # A test that loads only alerts.rules.yml would evaluate alerts over missing recording
    # rules and pass vacuously ("no alert" is what an empty series gives).
    for test_file in RULE_TEST_FILES:
        loaded = yaml.safe_load(test_file.read_text())["rule_files"]
        resolved = {(test_file.parent / p).resolve() for p in loaded}
        assert resolved == {p.resolve() for p in RULE_FILES}, test_file.name


# --- conventions every alert follows ----------------------------------------------------


@pytest.mark.parametrize("rule", alert_rules(), ids=rule_id)
def test_alert_has_severity_summary_description_and_runbook(rule):
    labels = rule.get("labels", {})
    annotations = rule.get("annotations", {})
    assert labels.get("severity") in SEVERITIES, f"severity must be one of {SEVERITIES}"
    assert annotations.get("summary", "").strip(), "summary missing"
    description = annotations.get("description", "")
    assert description.strip(), "description missing"
    # the description carries the observed value
    assert "$value" in description, "description lacks the value"
    url = annotations.get("runbook_url", "")
    assert re.fullmatch(r"https://\S+/docs/runbooks\.md#[a-z0-9_-]+", url), url


@pytest.mark.parametrize("rule", alert_rules(), ids=rule_id)
def test_runbook_url_anchor_is_a_heading_in_runbooks(rule):
    anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
    assert anchor in runbook_anchors(), f"docs/runbooks.md has no heading for #{anchor}"


def test_every_runbook_section_belongs_to_an_alert():
    # A section for an alert that was renamed or deleted misleads whoever lands on it.
    sections = re.findall(r"^##\s+(.+?)\s*$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    alerts = {rule["alert"] for rule in alert_rules()}
    general = {"Before you start"} | {s.title for e in EXTENSIONS for s in e.runbooks}
    assert "Where things are" in general
    assert set(sections) - general == alerts
    assert general <= set(sections)


def test_the_service_advice_reaches_the_kit_alerts_runbooks():
    text = RUNBOOKS.read_text()
    for ext in EXTENSIONS:
        for alert, note in ext.notes.items():
            section = text.split(f"\n## {alert}\n", 1)[1].split("\n## ", 1)[0]
            assert note.strip() in section, alert


def test_spec_alerts_keep_the_spec_severity_and_duration():
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    for name, (severity, duration) in SPEC_ALERTS.items():
        assert name in by_name, f"spec alert {name} missing"
        assert by_name[name]["labels"]["severity"] == severity, name
        assert by_name[name]["for"] == duration, name


def test_burn_rate_alerts_cover_the_four_window_pairs():
    burns = [r for r in alert_rules() if r["alert"] == "ErrorBudgetBurn"]
    pairs = {
        (r["labels"]["long_window"], r["labels"]["short_window"], r["labels"]["severity"])
        for r in burns
    }
    assert pairs == {
        ("1h", "5m", "page"),
        ("6h", "30m", "page"),
        ("1d", "2h", "ticket"),
        ("3d", "6h", "ticket"),
    }
    for rule in burns:
        long_w, short_w = rule["labels"]["long_window"], rule["labels"]["short_window"]
        assert f"job:aiexpense_slo_availability_burn_rate:rate{long_w} " in rule["expr"]
        assert f"job:aiexpense_slo_availability_burn_rate:rate{short_w} " in rule["expr"]


# --- the SLO is defined once ------------------------------------------------------------

SLI_USERS = (
    "job:aiexpense_slo_requests:rate5m",
    "job:aiexpense_slo_errors:rate5m",
    "job_le:aiexpense_request_duration_seconds_bucket:rate5m",
)


def test_sli_operation_set_is_identical_in_every_service_wide_rule():
    rules = {
        r["record"]: r["expr"] for g in load_rule_groups() for r in g["rules"] if "record" in r
    }
    regexes = set()
    for name in SLI_USERS:
        regexes |= set(re.findall(r'operation=~"([^"]+)"', rules[name]))
    assert len(regexes) == 1, f"the SLI operation set differs between rules: {regexes}"
    (sli,) = regexes
    members = re.compile(f"^(?:{sli})$")
    # user-facing operations in, internal ones out
    for op in ("create_expense", "get_expenses", "webhook_line_message", "webhook_slack_message"):
        assert members.match(op), op
    for op in ("db_query", "cache_get", "parse_conversation", "send_reply", "other"):
        assert not members.match(op), op


def test_slo_objective_is_a_single_constant():
    rules = [r for g in load_rule_groups() for r in g["rules"]]
    objective = [
        r for r in rules if r.get("record") == "aiexpense:slo_availability_objective:ratio"
    ]
    assert [r["expr"] for r in objective] == ["vector(0.999)"]
    # nothing else hard-codes the objective or the budget it implies
    for rule in rules:
        if rule is not objective[0]:
            assert not re.search(r"0\.999|0\.001\b", rule["expr"]), rule


# --- every alert is unit-tested: fires, stays quiet, resolves ---------------------------


def collect_checks() -> list[tuple[str, int, str, list[dict[str, str]]]]:
    """(test group id, eval seconds, alertname, [expected label sets]) for every check."""
    checks = []
    for test_file in RULE_TEST_FILES:
        for index, group in enumerate(yaml.safe_load(test_file.read_text())["tests"]):
            group_id = f"{test_file.name}#{index}"
            for check in group.get("alert_rule_test", []):
                expected = [a.get("exp_labels", {}) for a in check.get("exp_alerts") or []]
                seconds = parse_duration(check["eval_time"])
                checks.append((group_id, seconds, check["alertname"], expected))
    return checks


@pytest.mark.parametrize("rule", alert_rules(), ids=rule_id)
def test_alert_is_unit_tested_firing_quiet_and_resolving(rule):
    name = rule["alert"]
    rule_labels = {k: str(v) for k, v in rule.get("labels", {}).items()}

    def fires(expected: list[dict[str, str]]) -> bool:
        return any(all(str(e.get(k)) == v for k, v in rule_labels.items()) for e in expected)

    timeline: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for group_id, seconds, alertname, expected in collect_checks():
        if alertname == name:
            timeline[group_id].append((seconds, fires(expected)))

    fired = quiet = resolved = False
    for points in timeline.values():
        points.sort()
        first_fire = next((t for t, firing in points if firing), None)
        fired |= first_fire is not None
        for t, firing in points:
            if not firing and (first_fire is None or t < first_fire):
                quiet = True
            if not firing and first_fire is not None and t > first_fire:
                resolved = True
    assert fired, f"{rule_id(rule)}: no test expects it to fire"
    assert quiet, f"{rule_id(rule)}: no test expects it to stay quiet"
    assert resolved, f"{rule_id(rule)}: no test expects it to resolve after firing"


def test_runbook_promql_commands_parse(tmp_path, promtool):
    # The runbooks' PromQL is pasted during incidents: a typo there costs minutes.
    queries = re.findall(
        r"promtool query instant http://localhost:9090 '([^']+)'", RUNBOOKS.read_text()
    )
    assert len(queries) >= 15
    rules = [{"record": f"runbook:query_{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "runbook-queries.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "runbooks", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
