"""The promtool rule tests: every alert's proofs (fires, stays quiet, resolves), with the
exact annotations Prometheus renders, plus a service's own test groups verbatim."""

from __future__ import annotations

from typing import Any

from .model import Alert, AlertCase
from .rules import RuleSet, anchor
from .templates import render


def test_file(rules: RuleSet, rule_files: list[str]) -> dict[str, Any]:
    """The test file's content; ``rule_files`` relative to where it is written."""
    tests: list[dict[str, Any]] = []
    for alert in rules.alerts():
        for case in alert.cases:
            tests.append(_case(rules, alert, case))
    for ext in rules.extensions:
        tests += [dict(t) for t in ext.rule_tests]
    return {
        "rule_files": rule_files,
        "evaluation_interval": "1m",
        # Recording first, then every alert group: promtool otherwise orders groups at random,
        # and an alert would read this evaluation's recorded value or the previous one's.
        "group_eval_order": [rules.recording_group, *(g.name for g in rules.groups)],
        "tests": tests,
    }


def _case(rules: RuleSet, alert: Alert, case: AlertCase) -> dict[str, Any]:
    labels = {"severity": alert.severity, **alert.labels, **case.labels}
    all_labels = {"alertname": alert.name, **labels}
    annotations = {
        "summary": render(alert.summary, all_labels, case.value),
        "description": render(alert.description, all_labels, case.value),
        "runbook_url": f"{rules.spec.runbook_url}#{anchor(alert.name)}",
    }
    checks: list[dict[str, Any]] = []
    for at in case.quiet:
        checks.append({"eval_time": at, "alertname": alert.name, "exp_alerts": []})
    for at in case.firing:
        checks.append(
            {
                "eval_time": at,
                "alertname": alert.name,
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
            }
        )
    for at in case.resolved:
        checks.append({"eval_time": at, "alertname": alert.name, "exp_alerts": []})
    return {
        "name": case.title,
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in case.series],
        "alert_rule_test": checks,
    }
