"""SLOs over the spec's requests: recording rules per window and multi-window,
multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs"), for a 30-day budget:

    burn  long  short  for   severity  budget spent when it fires
    14.4  1h    5m     2m    page      2%  in 1 hour
    6     6h    30m    15m   page      5%  in 6 hours
    3     1d    2h     1h    ticket    10% in 1 day
    1     3d    6h     3h    ticket    10% in 3 days

Windows longer than 5m are averages of the recorded 5m rates (a 3-day ``rate()`` would read
three days of raw samples at every evaluation); errors and requests are averaged over the same
samples, so their ratio is the window's. The objective is one recorded constant per SLO.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .cases import Phase, counter, minutes, selector
from .model import Alert, AlertCase, RecordingRule
from .series import le
from .sli import Sli

WINDOWS: Final = ("30m", "1h", "2h", "6h", "1d", "3d")
# (burn, long, short, for, severity, what it means, test burn, quiet at, fires at, stops, clear at)
PAIRS: Final = (
    (14.4, "1h", "5m", "2m", "page", "2% of the 30-day budget in one hour", 50.0, 2, 5, 8, 14),
    (6.0, "6h", "30m", "15m", "page", "5% of the 30-day budget in 6 hours", 10.0, 10, 20, 25, 50),
    (3.0, "1d", "2h", "1h", "ticket", "10% of the 30-day budget in one day", 4.0, 50, 90, 100, 150),
    (
        1.0,
        "3d",
        "6h",
        "3h",
        "ticket",
        "the whole budget before the period ends",
        2.0,
        120,
        200,
        210,
        480,
    ),
)
VOLUME: Final = 600_000  # requests a minute in the proofs: whole error counts for any budget


@dataclass(frozen=True)
class Objective:
    """One SLO: ``key`` availability or latency; the bad events' and all events' names."""

    key: str
    alert: str
    target: float
    events: str  # recorded name stem of all events
    bad: str  # recorded name stem of the bad ones
    what: str  # "failed", "were slower than 250ms": for the descriptions


def objectives(sli: Sli) -> list[Objective]:
    spec = sli.spec
    out = [
        Objective(
            "availability", "ErrorBudgetBurn", spec.slo.availability, "requests", "errors", "failed"
        )
    ]
    if spec.slo.latency_seconds is not None and spec.slo.latency_target is not None:
        ms = f"{spec.slo.latency_seconds * 1000:g}ms"
        out.append(
            Objective(
                "latency",
                "LatencyBudgetBurn",
                spec.slo.latency_target,
                "timed_requests",
                "slow_requests",
                f"took longer than {ms}",
            )
        )
    return out


class SloRules:
    """Names and rules of one objective."""

    def __init__(self, sli: Sli, objective: Objective) -> None:
        self.sli, self.o = sli, objective
        self.ns = sli.spec.namespace

    def events(self, window: str) -> str:
        return f"job:{self.ns}_slo_{self.o.events}:rate{window}"

    def bad(self, window: str) -> str:
        return f"job:{self.ns}_slo_{self.o.bad}:rate{window}"

    def ratio(self, window: str) -> str:
        return f"job:{self.ns}_slo_{self.o.bad}:ratio_rate{window}"

    def burn(self, window: str) -> str:
        return f"job:{self.ns}_slo_{self.o.key}_burn_rate:rate{window}"

    @property
    def objective(self) -> str:
        return f"{self.ns}:slo_{self.o.key}_objective:ratio"

    @property
    def budget(self) -> str:
        return f"{self.ns}:slo_{self.o.key}_error_budget:ratio"

    def recording(self) -> list[RecordingRule]:
        clock = self.sli.clock
        if self.o.key == "availability":
            five = [
                RecordingRule(self.events("5m"), self.sli.requests()),
                RecordingRule(self.bad("5m"), self.sli.errors()),
            ]
        else:
            five = [
                RecordingRule(self.events("5m"), self.sli.timed()),
                RecordingRule(self.bad("5m"), self.sli.slow()),
            ]
        rules = [
            *five,
            # "> 0": no traffic has no ratio (not NaN), so nothing fires or flaps on it
            RecordingRule(self.ratio("5m"), f"{self.bad('5m')} / ({self.events('5m')} > 0)"),
            RecordingRule(self.objective, f"vector({self.o.target!r})"),
            RecordingRule(self.budget, f"1 - {self.objective}"),
        ]
        for w in WINDOWS:
            rules += [
                RecordingRule(self.events(w), f"avg_over_time({self.events('5m')}[{clock.of(w)}])"),
                RecordingRule(self.bad(w), f"avg_over_time({self.bad('5m')}[{clock.of(w)}])"),
                RecordingRule(self.ratio(w), f"{self.bad(w)} / ({self.events(w)} > 0)"),
            ]
        for w in ("5m", *WINDOWS):
            rules.append(
                RecordingRule(
                    self.burn(w), f"{self.ratio(w)}\n  / on () group_left () {self.budget}"
                )
            )
        return rules

    def alerts(self, runbook: str) -> list[Alert]:
        spec, clock = self.sli.spec, self.sli.clock
        budget = 1.0 - self.o.target
        out = []
        for burn, long_w, short_w, for_, severity, meaning, test_burn, *times in PAIRS:
            expr = f"{self.burn(long_w)} > {burn:g}\n  and {self.burn(short_w)} > {burn:g}"
            test_burn = min(test_burn, 0.9 / budget) if burn > 10 else test_burn
            cases = (self._case(test_burn, long_w, short_w, *times),) if clock.scale == 1 else ()
            out.append(
                Alert(
                    name=self.o.alert,
                    expr=expr,
                    for_=clock.of(for_),
                    severity=severity,
                    summary=f"{spec.title} is burning its {self.o.key} error budget "
                    "{{ $value | humanize }}x too fast",
                    description=(
                        f"Over the last {long_w} job {{{{ $labels.job }}}} has served requests "
                        "that "
                        f"{self.o.what} at {{{{ $value | humanize }}}} times the rate the "
                        f"{self.o.key} objective ({self.o.target:.4g}) allows, and still does over "
                        f"the last {short_w} (threshold {burn:g}x: {meaning})."
                    ),
                    runbook=runbook,
                    cases=cases,
                    labels={"long_window": long_w, "short_window": short_w},
                )
            )
        return out

    def _case(
        self, burn: float, long_w: str, short_w: str, quiet: int, fires: int, stops: int, clear: int
    ) -> AlertCase:
        budget = 1.0 - self.o.target
        bad = round(burn * budget * VOLUME)
        total = clear + 10
        series = self.inputs([(stops, VOLUME, bad), (total - stops, VOLUME, 0)])
        return AlertCase(
            title=f"{self.o.alert} {long_w}/{short_w}: a {burn:g}x burn fires, then resolves",
            series=tuple(series),
            quiet=(minutes(quiet),),
            firing=(minutes(fires),),
            resolved=(minutes(clear),),
            labels={"job": self.sli.spec.job},
            value=bad / VOLUME / budget,
        )

    def inputs(self, phases: list[tuple[int, int, int]]) -> list[tuple[str, str]]:
        """Raw series giving ``(minutes, events a minute, bad ones a minute)`` phase by phase."""
        return sli_inputs(self.sli, self.o.key, phases)


def sli_inputs(sli: Sli, key: str, phases: list[tuple[int, int, int]]) -> list[tuple[str, str]]:
    s, spec = sli.series, sli.spec
    base = {"job": spec.job, "instance": "app-1:8080", **sli.sample_labels()}

    def grow(f: Callable[[int, int], int]) -> str:
        steps: list[Phase] = [(m, f(n, b)) for m, n, b in phases]
        return counter(steps)

    if key == "latency":
        histogram = s.http_duration if sli.http else s.operation_duration
        bound = spec.slo.latency_seconds
        assert bound is not None

        return [
            (selector(f"{histogram}_count", base), grow(lambda n, b: n)),
            (selector(f"{histogram}_bucket", {**base, "le": le(bound)}), grow(lambda n, b: n - b)),
        ]
    if sli.http:
        return [
            (selector(s.http_requests, {**base, "status": "200"}), grow(lambda n, b: n - b)),
            (selector(s.http_requests, {**base, "status": "500"}), grow(lambda n, b: b)),
        ]
    return [
        (selector(s.operations, base), grow(lambda n, b: n)),
        (selector(s.operation_errors, base), grow(lambda n, b: b)),
    ]
