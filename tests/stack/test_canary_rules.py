"""The canary's rules (aiexpense.ops.canary, generated into alerts/) compare the same
requests the SLO counts, on both tracks alike; the deployment guide's queries about them parse.

promtool runs the rules themselves (their generated proofs in alerts/tests/alerts_test.yml,
through tests/stack/test_alert_rules.py); this checks what a promtool test cannot see: that
the canary's operation set is the SLI's, and that every comparison is guarded by traffic on
both tracks.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"


def rules(name: str) -> list[dict]:
    groups = yaml.safe_load((ALERTS / name).read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def canary_recording() -> list[dict]:
    return [r for r in rules("recording.rules.yml") if r["record"].startswith("job_track")]


def canary_alerts() -> list[dict]:
    groups = yaml.safe_load((ALERTS / "alerts.rules.yml").read_text())["groups"]
    (group,) = [g for g in groups if g["name"] == "aiexpense.canary"]
    return group["rules"]


def operation_sets(expr: str) -> list[str]:
    return re.findall(r'operation=~"([^"]+)"', expr)


def test_canary_rules_count_exactly_the_sli_operations():
    (sli,) = set(
        operation_sets(
            next(
                r["expr"]
                for r in rules("recording.rules.yml")
                if r.get("record") == "job:aiexpense_slo_requests:rate5m"
            )
        )
    )
    raw = [r for r in canary_recording() if "aiexpense_operation" in r["expr"]]
    assert len(raw) == 3  # requests, errors, duration buckets
    for rule in raw:
        assert operation_sets(rule["expr"]) == [sli], rule["record"]
        assert 'track!=""' in rule["expr"], rule["record"]
        assert re.search(r"sum by \(job, track(, le)?\)", rule["expr"]), rule["record"]


def test_every_canary_alert_compares_canary_with_stable_and_needs_traffic_on_both():
    alerts = canary_alerts()
    assert {a["alert"] for a in alerts} == {"CanaryWorse"}
    assert {a["labels"]["signal"] for a in alerts} == {"error_ratio", "p99_latency"}
    for alert in alerts:
        expr = alert["expr"]
        assert re.search(r'\{[^}]*track="canary"', expr) and re.search(
            r'\{[^}]*track="stable"', expr
        )
        for track in ("canary", "stable"):
            guard = f'job_track:aiexpense_requests:rate5m{{track="{track}"}} * 300 >= 100'
            assert f"and on (job) {guard}" in expr, (alert["labels"]["signal"], track)


def test_deployment_guide_promql_parses_and_names_recorded_series(tmp_path):
    # the canary's "what to watch" queries are pasted mid-rollout: they must parse, and the
    # recorded series they read must exist
    promtool = require_tool("promtool")
    text = (ROOT / "docs" / "deployment.md").read_text()
    queries = re.findall(r"promtool query instant http://prometheus:9090 '([^'<]+)'", text)
    assert len(queries) >= 8
    recorded = {r["record"] for p in ALERTS.glob("*.rules.yml") for r in rules(p.name)
                if "record" in r}  # fmt: skip
    for query in queries:
        for name in re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", query):
            assert name in recorded, f"{name} in {query!r} is not a recording rule"
    path = tmp_path / "guide.rules.yml"
    body = [{"record": f"guide:query_{i}", "expr": q} for i, q in enumerate(queries)]
    path.write_text(yaml.safe_dump({"groups": [{"name": "guide", "rules": body}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
