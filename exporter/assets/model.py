"""What the generator is made of: alerts with their own proofs and runbook, recording rules,
dashboard rows and panels. The kit's assets and a service's extensions are built from the
same pieces, so an extension's alert is tested, linted and documented like the kit's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def rule(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record, "expr": self.expr}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True)
class AlertCase:
    """A promtool proof for one alert rule: input series (sampled every minute), and the
    evaluation times at which nothing fires (``quiet``: healthy input, or a ``for`` not yet
    elapsed), the rule fires (``firing``) and nothing fires again (``resolved``).
    ``labels``: the firing alert's labels beyond the rule's own (job, instance, ...);
    ``value``: ``$value`` at the firing times, for the annotations the test expects."""

    title: str
    series: tuple[tuple[str, str], ...]
    quiet: tuple[str, ...]
    firing: tuple[str, ...]
    resolved: tuple[str, ...]
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class RunbookSection:
    """A markdown section: ``title`` becomes the heading (and the anchor), ``body`` follows."""

    title: str
    body: str


@dataclass(frozen=True)
class Alert:
    """One alerting rule. ``summary`` and ``description`` are Prometheus templates using
    only ``{{ $labels.x }}`` and ``{{ $value | humanize* }}`` (the rule tests render them).
    ``runbook``: the markdown of its section (several rules of one name share the first)."""

    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    runbook: str
    cases: tuple[AlertCase, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def with_severity(self, severity: str, extra: Mapping[str, str]) -> Alert:
        return Alert(
            self.name,
            self.expr,
            self.for_,
            severity,
            self.summary,
            self.description,
            self.runbook,
            self.cases,
            {**self.labels, **extra},
        )


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = "__auto"
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    """A dashboard panel: ``kind`` "timeseries", "stat" or "state" (a state timeline);
    ``mappings``: value -> (text, color) for stat and state panels; ``limit``: a threshold
    drawn on the graph (an alert's)."""

    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"
    width: int = 12
    mappings: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    limit: float | None = None


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Extension:
    """A service's own assets beside the generated ones.

    ``recording`` rules are appended to the end of the one recording group (so they may read
    any generated series, evaluated before them); ``alerts`` form the group
    ``<namespace>.<name>``, each proven by its cases like the kit's; ``rule_tests`` are more
    promtool test groups, verbatim; ``rows`` are appended to the dashboard; ``runbooks`` are
    general sections (alerts bring their own); ``series`` names the metrics the service
    exposes beyond the kit's (the dashboard lint allows only known series); ``notes`` adds
    the service's own advice to any alert's runbook section (alert name -> markdown, shown
    after the section's own text), the kit's alerts included."""

    name: str
    recording: tuple[RecordingRule, ...] = ()
    alerts: tuple[Alert, ...] = ()
    rule_tests: tuple[Mapping[str, Any], ...] = ()
    rows: tuple[Row, ...] = ()
    runbooks: tuple[RunbookSection, ...] = ()
    series: tuple[str, ...] = ()
    notes: Mapping[str, str] = field(default_factory=dict)
