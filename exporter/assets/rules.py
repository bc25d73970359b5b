"""The spec's rules, assembled: which alerts exist (only those whose parts do), their
severities and labels from the spec's paging, and the rule groups Prometheus loads."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import alerts as a
from .model import Alert, Extension, RecordingRule
from .recording import Recorded, recording_rules
from .sli import Sli
from .slo import SloRules, objectives
from .spec import SpecError
from .windows import Clock

SLO_RUNBOOK = """**Means.** The service is spending its {key} error budget faster than the
objective allows: at the alert's burn rate the 30-day budget runs out early. The fast pages
(1h and 6h windows) are an outage now; the tickets (1d, 3d) a slow leak that will miss the
objective if nobody acts. The short window makes the alert resolve soon after the burning
stops.

**Check.** The burn per window:
`{burn}` (the long_window and short_window labels of the alert name the two it fired on);
the dashboard's SLO row; the per-route and per-operation error panels for where it comes
from.

**Fix.** Stop the bleeding first (roll back, shed the failing feature), then look for the
cause. A ticket: find the steady source of {bad} before the budget is gone."""


@dataclass(frozen=True)
class AlertGroup:
    name: str
    alerts: tuple[Alert, ...]


def anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


class RuleSet:
    """Every rule the spec and its extensions give, at the clock's time scale."""

    def __init__(self, sli: Sli, extensions: Sequence[Extension] = ()) -> None:
        self.sli, self.spec, self.extensions = sli, sli.spec, tuple(extensions)
        self.clock: Clock = sli.clock
        self.recording: list[RecordingRule] = recording_rules(sli)
        for ext in self.extensions:
            self.recording += ext.recording
        groups = self._kit_groups() + [
            AlertGroup(f"{self.spec.namespace}.{ext.name}", ext.alerts)
            for ext in self.extensions
            if ext.alerts
        ]
        self.groups = [AlertGroup(g.name, tuple(self._page(x) for x in g.alerts)) for g in groups]
        self._check_paging()

    @property
    def recording_group(self) -> str:
        return f"{self.spec.namespace}.rules"

    def alerts(self) -> list[Alert]:
        return [alert for group in self.groups for alert in group.alerts]

    def names(self) -> list[str]:
        return list(dict.fromkeys(alert.name for alert in self.alerts()))

    def _kit_groups(self) -> list[AlertGroup]:
        spec = self.spec
        c = a.Context(spec, self.clock, self.sli, Recorded(spec.namespace))
        target = [a.target_down(c), a.target_absent(c)]
        if spec.parts.health:
            target += [a.service_unhealthy(c), a.sampler_stale(c)]
            if spec.parts.health_checks:
                target.append(a.health_check_failing(c))
        if spec.parts.database:
            target.append(a.database_down(c))
        requests = [a.high_error_rate(c)]
        if spec.parts.http:
            requests.append(a.route_server_errors(c))
        if spec.parts.operations:
            requests.append(a.slow_operations(c))
        resources = [a.high_memory(c)] if spec.parts.process else []
        if spec.parts.database:
            resources += [a.pool_saturated(c), a.pool_waiting(c)]
        slo: list[Alert] = []
        for objective in objectives(self.sli):
            rules = SloRules(self.sli, objective)
            runbook = SLO_RUNBOOK.format(
                key=objective.key, burn=rules.burn("1h"), bad=objective.bad.replace("_", " ")
            )
            slo += rules.alerts(runbook)
        ns = spec.namespace
        groups = [
            AlertGroup(f"{ns}.target", tuple(target)),
            AlertGroup(f"{ns}.requests", tuple(requests)),
            AlertGroup(f"{ns}.resources", tuple(resources)),
            AlertGroup(f"{ns}.slo", tuple(slo)),
        ]
        return [g for g in groups if g.alerts]

    def _page(self, alert: Alert) -> Alert:
        paging = self.spec.paging
        return alert.with_severity(paging.severities.get(alert.name, alert.severity), paging.labels)

    def _check_paging(self) -> None:
        names = set(self.names())
        problems = [
            f"spec.paging.{severity}: {name} is not an alert of this spec "
            f"(its alerts: {', '.join(sorted(names))})"
            for name, severity in self.spec.paging.severities.items()
            if name not in names
        ]
        if problems:
            raise SpecError(problems)

    # -- Prometheus's files ------------------------------------------------------------------

    def recording_groups(self) -> list[dict[str, Any]]:
        return [{"name": self.recording_group, "rules": [r.rule() for r in self.recording]}]

    def alert_groups(self) -> list[dict[str, Any]]:
        return [{"name": g.name, "rules": [self.rule(x) for x in g.alerts]} for g in self.groups]

    def rule(self, alert: Alert) -> dict[str, Any]:
        return {
            "alert": alert.name,
            "expr": alert.expr,
            "for": alert.for_,
            "labels": {"severity": alert.severity, **alert.labels},
            "annotations": {
                "summary": alert.summary,
                "description": alert.description,
                "runbook_url": f"{self.spec.runbook_url}#{anchor(alert.name)}",
            },
        }
