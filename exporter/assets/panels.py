"""The dashboard's rows for the parts the spec names, as plain ``Row``/``Panel`` data (the
Grafana model is built from them in ``dashboard``). No part, no row: a service without a
database gets no database panel, which would only ever be empty.

Conventions (``lint`` checks them): raw series filtered by ``job=~"$job",
instance=~"$instance"``, recorded ones by ``job=~"$job"``; windows are ``$__rate_interval``
(``$__range`` for the one whole-range figure, the error budget left); counters only inside
``rate()``/``increase()``.
"""

from __future__ import annotations

from .model import Panel, Query, Row
from .recording import Recorded
from .rules import RuleSet
from .series import Series
from .sli import Sli
from .slo import SloRules, objectives

RATE = "$__rate_interval"
SCOPE = 'job=~"$job", instance=~"$instance"'
HEALTH = {"0": ("healthy", "green"), "1": ("degraded", "orange"), "2": ("unhealthy", "red")}
UP = {"1": ("ok", "green"), "0": ("failing", "red")}


def _sel(metric: str, extra: str = "") -> str:
    return f"{metric}{{{SCOPE}{', ' + extra if extra else ''}}}"


def _sum_rate(by: str, metric: str, extra: str = "", window: str = RATE) -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({_sel(metric, extra)}[{window}]))"


class Panels:
    def __init__(self, rules: RuleSet) -> None:
        self.rules, self.spec = rules, rules.spec
        self.s, self.r = Series(self.spec.namespace), Recorded(self.spec.namespace)
        self.sli: Sli = rules.sli

    def rows(self) -> list[Row]:
        p = self.spec.parts
        rows = [self.glance()]
        if p.http:
            rows.append(self.http())
        if p.operations:
            rows.append(self.operations())
        if p.health:
            rows.append(self.health())
        if p.database:
            rows.append(self.database())
        if p.process:
            rows.append(self.process())
        rows.append(self.slo())
        return rows

    # -- the SLI, over the dashboard's variables ------------------------------------------------

    def _sli_filter(self) -> str:
        return self.sli.filter()

    def _requests(self, window: str = RATE, fn: str = "rate") -> str:
        total = self.s.http_requests if self.sli.http else self.s.operations
        return f"sum ({fn}({_sel(total, self._sli_filter())}[{window}]))"

    def _errors(self, window: str = RATE, fn: str = "rate") -> str:
        extra = self._sli_filter()
        if self.sli.http:
            status = 'status=~"5.."'
            metric, extra = self.s.http_requests, f"{extra}, {status}" if extra else status
        else:
            metric = self.s.operation_errors
        return f"(sum ({fn}({_sel(metric, extra)}[{window}])) or 0 * {self._requests(window, fn)})"

    # -- rows ---------------------------------------------------------------------------------

    def glance(self) -> Row:
        th = self.spec.thresholds
        budget = SloRules(self.sli, objectives(self.sli)[0]).budget
        panels = []
        if self.spec.parts.health:
            panels.append(
                Panel(
                    "Health status",
                    "Each instance's own verdict (GET /monitoring/health).",
                    "none",
                    (Query(self._health_state(), "{{instance}}", instant=True),),
                    "stat",
                    6,
                    HEALTH,
                )
            )
        panels += [
            Panel(
                "Requests",
                "Requests per second the SLO counts.",
                "reqps",
                (Query(self._requests(), "requests/s", instant=True),),
                "stat",
                6,
            ),
            Panel(
                "Error ratio",
                "Share of the SLO's requests that failed. HighErrorRate "
                f"pages above {th.error_ratio:.2%} for 5 minutes.",
                "percentunit",
                (Query(f"{self._errors()} / ({self._requests()} > 0)", "errors", instant=True),),
                "stat",
                6,
                limit=th.error_ratio,
            ),
            Panel(
                "Error budget left",
                "Share of the availability error budget not spent over "
                "the selected range (30 days for the whole period); below 0 the objective "
                "is missed.",
                "percentunit",
                (
                    Query(
                        f"1 - (\n  {self._errors('$__range', 'increase')}\n"
                        f"  / ({self._requests('$__range', 'increase')} > 0)\n"
                        f") / on () group_left () {budget}",
                        "budget left",
                        instant=True,
                    ),
                ),
                "stat",
                6,
            ),
        ]
        return Row("At a glance", tuple(panels))

    def _health_state(self) -> str:
        name = self.s.health_status
        return (
            "max by (instance) (\n"
            + "\n".join(
                f"  {'or ' if i else '   '}{i} * ({_sel(name, f'{name}=' + chr(34) + state + chr(34))} == 1)"  # noqa: E501
                for i, state in enumerate(("healthy", "degraded", "unhealthy"))
            )
            + "\n)"
        )

    def http(self) -> Row:
        s, th = self.s, self.spec.thresholds
        total = _sum_rate("route", s.http_requests)
        five = _sum_rate("route", s.http_requests, 'status=~"5.."')
        return Row(
            "HTTP requests by route",
            (
                Panel(
                    "Request rate by route",
                    'Requests per second by route template ("unmatched": no route matched).',
                    "reqps",
                    (Query(total, "{{route}}"),),
                ),
                Panel(
                    "5xx ratio by route",
                    "Share of each route's requests answered 5xx. "
                    f"HttpRouteServerErrors fires above {th.route_error_ratio:.0%}.",
                    "percentunit",
                    (Query(f"({five}\n  or 0 * {total})\n/ ({total} > 0)", "{{route}}"),),
                    limit=th.route_error_ratio,
                ),
                Panel(
                    "p99 latency by route",
                    "99th percentile of the time to answer, by route.",
                    "s",
                    (
                        Query(
                            f"histogram_quantile(0.99, "
                            f"{_sum_rate('route, le', s.http_duration + '_bucket')}) >= 0",
                            "{{route}}",
                        ),
                    ),
                ),
                Panel(
                    "Responses by status",
                    "Responses per second by status code (499: the client went away).",
                    "reqps",
                    (Query(_sum_rate("status", s.http_requests), "{{status}}"),),
                ),
                Panel(
                    "Requests in progress",
                    "Requests being served now, per instance.",
                    "short",
                    (Query(f"sum by (instance) ({_sel(s.http_in_progress)})", "{{instance}}"),),
                    width=24,
                ),
            ),
        )

    def operations(self) -> Row:
        s, th = self.s, self.spec.thresholds
        d = s.operation_duration
        return Row(
            "Operations",
            (
                Panel(
                    "Throughput by operation",
                    "Calls per second of each operation.",
                    "ops",
                    (Query(_sum_rate("operation", s.operations), "{{operation}}"),),
                ),
                Panel(
                    "Error ratio by operation",
                    "Share of each operation's calls that failed; idle operations are hidden.",
                    "percentunit",
                    (
                        Query(
                            f"{_sum_rate('operation', s.operation_errors)}\n"
                            f"  / ({_sum_rate('operation', s.operations)} > 0)",
                            "{{operation}}",
                        ),
                    ),
                ),
                Panel(
                    "Mean latency by operation",
                    "Mean duration of each operation. "
                    f"SlowOperations fires above {th.slow_operation_seconds * 1000:g} ms.",
                    "s",
                    (
                        Query(
                            f"{_sum_rate('operation', d + '_sum')}\n"
                            f"  / ({_sum_rate('operation', d + '_count')} > 0)",
                            "{{operation}}",
                        ),
                    ),
                    limit=th.slow_operation_seconds,
                ),
                Panel(
                    "p99 latency by operation",
                    "99th percentile duration of each operation.",
                    "s",
                    (
                        Query(
                            f"histogram_quantile(0.99, "
                            f"{_sum_rate('operation, le', d + '_bucket')}) >= 0",
                            "{{operation}}",
                        ),
                    ),
                ),
            ),
        )

    def health(self) -> Row:
        return Row(
            "Health",
            (
                Panel(
                    "Health status over time",
                    "Each instance's status at every scrape.",
                    "none",
                    (Query(self._health_state(), "{{instance}}"),),
                    "state",
                    12,
                    HEALTH,
                ),
                Panel(
                    "Health checks",
                    "Every check behind the status, per instance: ok or "
                    "failing (sampler: the checker itself).",
                    "none",
                    (Query(_sel(self.s.health_check_up), "{{instance}} {{check}}"),),
                    "state",
                    12,
                    UP,
                ),
            ),
        )

    def database(self) -> Row:
        s, th = self.s, self.spec.thresholds
        return Row(
            "Database",
            (
                Panel(
                    "Pool connections",
                    "Pool connections by state against the maximum. "
                    f"DatabasePoolSaturated fires at {th.pool_saturation:.0%} in use.",
                    "short",
                    (
                        Query(f"sum by (state) ({_sel(s.pool_connections)})", "{{state}}"),
                        Query(f"sum ({_sel(s.pool_max)})", "maximum"),
                    ),
                ),
                Panel(
                    "Requests waiting for a connection",
                    "Requests queued for a pool connection now (0 is normal).",
                    "short",
                    (Query(_sel(s.pool_waiting), "{{instance}}"),),
                ),
                Panel(
                    "Time waiting for a connection",
                    "Seconds waited for a connection per second, summed over requests.",
                    "s",
                    (
                        Query(
                            _sum_rate("instance", s.pool_counter("requests_wait_ms")),
                            "{{instance}}",
                        ),
                    ),
                ),
                Panel(
                    "Database ping",
                    "Round trip of the health sampler's ping.",
                    "s",
                    (Query(_sel(s.db_ping), "{{instance}}"),),
                ),
            ),
        )

    def process(self) -> Row:
        limit = self.spec.thresholds.memory_bytes * self.spec.parts.workers
        return Row(
            "Process",
            (
                Panel(
                    "Memory (resident)",
                    "Resident memory per instance (the sum of its "
                    f"workers). HighMemory fires above {limit // 1048576} MiB.",
                    "bytes",
                    (Query(_sel("process_resident_memory_bytes"), "{{instance}}"),),
                    limit=limit,
                ),
                Panel(
                    "CPU",
                    "CPU seconds per second per instance: 100% is one core.",
                    "percentunit",
                    (Query(f"rate({_sel('process_cpu_seconds_total')}[{RATE}])", "{{instance}}"),),
                ),
            ),
        )

    def slo(self) -> Row:
        panels = []
        for objective in objectives(self.sli):
            rules = SloRules(self.sli, objective)
            job = '{job=~"$job"}'
            panels += [
                Panel(
                    f"{objective.key.capitalize()} vs objective",
                    f"Share of good requests over 5 minutes against the {objective.key} "
                    f"objective ({objective.target:.4g}).",
                    "percentunit",
                    (
                        Query(f"1 - {rules.ratio('5m')}{job}", objective.key),
                        Query(rules.objective, "objective"),
                    ),
                ),
                Panel(
                    f"{objective.key.capitalize()} budget burn rate",
                    f"How many times faster than sustainable the {objective.key} budget is "
                    f"spent, per alert window (1 = exactly used up in 30 days). "
                    f"{objective.alert} pages at 14.4x (1h) and 6x (6h), opens a ticket at "
                    "3x (1d) and 1x (3d).",
                    "x",
                    tuple(Query(f"{rules.burn(w)}{job}", w) for w in ("1h", "6h", "1d", "3d")),
                ),
            ]
        return Row("SLO", tuple(panels))
