"""Every query of the committed dashboards, with Grafana's macros substituted.

Grafana expands ``$__rate_interval``, ``$__interval``, ``$__range`` and the dashboard
variables before a query reaches Prometheus. A test that runs the dashboards' queries
against a real Prometheus does the same here:

    from grafana.queries import dashboard_queries

    for q in dashboard_queries(rate_interval="4s", range_="2m"):
        result = prometheus_query(q.promql, instant=q.instant)   # your HTTP call
        assert result, f"{q.panel} ({q.ref_id}) returned nothing: {q.promql}"

Variables default to what a single local deployment needs (job "aiexpense", all
instances, all operations); pass ``variables={...}`` to override any of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"

# The series the service exposes (the contract in the issues and DESIGN.md). Dashboards
# and alert rules may use only these, recording rules, and Prometheus's own `up`; a typo
# would otherwise be a panel that is always empty or an alert that can never fire. An
# end-to-end test can also check that a live /metrics exposes every one of them.
SERVICE_METRICS: frozenset[str] = frozenset(
    {
        # operations (counters, histogram, gauges)
        "aiexpense_operations_total",
        "aiexpense_operation_errors_total",
        "aiexpense_operation_duration_seconds_bucket",
        "aiexpense_operation_duration_seconds_sum",
        "aiexpense_operation_duration_seconds_count",
        "aiexpense_operation_last_recorded_timestamp_seconds",
        "aiexpense_operations_overflow_total",
        "aiexpense_build_info",
        # HTTP requests (HttpMetricsMiddleware)
        "aiexpense_http_requests_total",
        "aiexpense_http_request_duration_seconds_bucket",
        "aiexpense_http_request_duration_seconds_sum",
        "aiexpense_http_request_duration_seconds_count",
        "aiexpense_http_requests_in_progress",
        # prometheus-client's process and gc collectors
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "python_gc_collections_total",
        "python_info",
        # health and database pool
        "aiexpense_health_status",
        "aiexpense_health_check_up",
        "aiexpense_db_up",
        "aiexpense_db_ping_seconds",
        "aiexpense_db_pool_connections",
        "aiexpense_db_pool_max_connections",
        "aiexpense_db_pool_requests_waiting",
        "aiexpense_db_pool_wait_total",
        "aiexpense_db_pool_wait_seconds_total",
        "aiexpense_db_pool_errors_total",
        "aiexpense_db_pool_connections_lost_total",
        # caches and job queue
        "aiexpense_cache_requests_total",
        "aiexpense_cache_entries",
        "aiexpense_job_queue_depth",
        "aiexpense_job_queue_capacity",
        "aiexpense_jobs_total",
    }
)
COUNTER_SUFFIXES = ("_total", "_bucket", "_sum", "_count")

# Values a multi-value variable with "All" selected expands to (its allValue).
DEFAULT_VARIABLES: dict[str, str] = {
    "datasource": "prometheus",
    "job": "aiexpense",
    "instance": ".*",
    "operation": ".*",
}

_MACRO = re.compile(
    r"\$__(rate_interval_ms|rate_interval|interval_ms|interval|range_ms|range_s|range)\b"
)
_VARIABLE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\$(\w+)|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class DashboardQuery:
    dashboard: str  # dashboard uid
    panel: str  # panel title
    panel_id: int
    ref_id: str
    expr: str  # as stored in the dashboard, macros unexpanded
    instant: bool  # an instant query (stat panels); otherwise a range query
    promql: str  # expr with macros and variables substituted


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)


def substitute(
    expr: str,
    *,
    rate_interval: str = "1m",
    interval: str = "15s",
    range_: str = "1h",
    variables: Mapping[str, str] | None = None,
) -> str:
    """``expr`` as Grafana would send it, for the given macro and variable values.

    ``rate_interval`` should be at least four scrape intervals (Grafana's own rule), so
    rate() always sees two samples: with a 1 s scrape, "4s" or more.
    """
    values = {**DEFAULT_VARIABLES, **(variables or {})}
    macros = {
        "rate_interval": rate_interval,
        "rate_interval_ms": str(int(_seconds(rate_interval) * 1000)),
        "interval": interval,
        "interval_ms": str(int(_seconds(interval) * 1000)),
        "range": range_,
        "range_s": str(int(_seconds(range_))),
        "range_ms": str(int(_seconds(range_) * 1000)),
    }
    out = _MACRO.sub(lambda m: macros[m.group(1)], expr)

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise KeyError(f"no value for dashboard variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(variable, out)


@dataclass(frozen=True)
class Selector:
    """One series selector in a PromQL expression, as the lint needs it."""

    name: str  # metric or recording-rule name
    matchers: str  # the text between the braces, blanks removed: 'job=~"$job",le="1"'
    window: str | None  # the range in [...] right after it, if any
    function: str | None  # the function whose parentheses directly enclose it, if any

    @property
    def is_recording_rule(self) -> bool:
        return ":" in self.name

    @property
    def is_counter(self) -> bool:
        return not self.is_recording_rule and self.name.endswith(COUNTER_SUFFIXES)


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[A-Za-z_:][\w:]*|\S')
_METRIC_LIKE = re.compile(r"(?:aiexpense|process|python)_\w+|\w*:[\w:]+|up")


def selectors(expr: str) -> list[Selector]:
    """The series selectors of ``expr`` (metric names of this project, recording rules, up).

    A small scanner, not a PromQL parser: it tracks braces, brackets and the function each
    parenthesis belongs to, which is all the dashboard and rule lints need.
    """
    tokens = _TOKEN.findall(expr)
    found = []
    calls: list[str | None] = []  # function name (or None) of each open parenthesis
    i = 0
    while i < len(tokens):
        token = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token == "(":
            calls.append(None)
        elif token == ")":
            if calls:
                calls.pop()
        elif nxt == "(" and re.fullmatch(r"[A-Za-z_]\w*", token):
            calls.append(token)  # a function or aggregation: "rate(", "sum by ("
            i += 2
            continue
        elif token == "{":
            # a bare matcher block: {__name__=~"..."}; skip it
            depth, i = 1, i + 1
            while i < len(tokens) and depth:
                depth += {"{": 1, "}": -1}.get(tokens[i], 0)
                i += 1
            continue
        elif _METRIC_LIKE.fullmatch(token):
            matchers, window, j = "", None, i + 1
            if j < len(tokens) and tokens[j] == "{":
                end = tokens.index("}", j)
                matchers = "".join(tokens[j + 1 : end])
                j = end + 1
            if j < len(tokens) and tokens[j] == "[":
                end = tokens.index("]", j)
                window = "".join(tokens[j + 1 : end])
                j = end + 1
            found.append(Selector(token, matchers, window, calls[-1] if calls else None))
            i = j
            continue
        i += 1
    return found


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        # a collapsed row keeps its panels inside it
        yield from _panels(panel.get("panels") or [])


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> dict[str, dict]:
    """File name -> dashboard JSON, for every committed dashboard."""
    return {p.name: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def dashboard_queries(
    directory: Path = DASHBOARDS_DIR,
    *,
    rate_interval: str = "1m",
    interval: str = "15s",
    range_: str = "1h",
    variables: Mapping[str, str] | None = None,
) -> list[DashboardQuery]:
    """Every target of every panel of every committed dashboard, ready to run."""
    found = []
    for dashboard in load_dashboards(directory).values():
        for panel in _panels(dashboard.get("panels") or []):
            for target in panel.get("targets") or []:
                if target.get("hide"):
                    continue
                expr = target["expr"]
                found.append(
                    DashboardQuery(
                        dashboard=dashboard["uid"],
                        panel=panel.get("title", ""),
                        panel_id=panel.get("id", 0),
                        ref_id=target.get("refId", ""),
                        expr=expr,
                        instant=bool(target.get("instant")) and not target.get("range"),
                        promql=substitute(
                            expr,
                            rate_interval=rate_interval,
                            interval=interval,
                            range_=range_,
                            variables=variables,
                        ),
                    )
                )
    return found
