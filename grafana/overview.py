"""The aiexpense overview dashboard: the spec's panels (Part 6, "Dashboard Queries").

Conventions every panel follows (tests/stack/test_dashboards.py enforces them):
- queries go to the ``$datasource`` variable (a Prometheus data source);
- every panel has a unit and a description saying what it shows and what is normal;
- rate()/increase() windows are ``$__rate_interval`` (``$__range`` for the one
  whole-range figure, the error budget), never a fixed window;
- counters (``_total``, and a histogram's ``_bucket``/``_sum``/``_count``) appear only
  inside rate()/increase();
- raw series are filtered by ``job=~"$job", instance=~"$instance"``.

The user-facing operation set (the availability SLI) is read from
``alerts/recording.rules.yml`` so the dashboard and the alerts cannot disagree on it; the
SLO objective is read live from the ``aiexpense:slo_*`` recording rules.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

ROOT = Path(__file__).resolve().parents[1]
RECORDING_RULES = ROOT / "alerts" / "recording.rules.yml"

UID = "aiexpense-overview"
TITLE = "aiexpense / Overview"

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
# every raw series is filtered by these
SCOPE = 'job=~"$job", instance=~"$instance"'

# Thresholds shown on panels; the alerts in alerts/alerts.rules.yml use the same values.
ERROR_RATE_LIMIT = 0.005  # HighErrorRate
MEAN_LATENCY_LIMIT = 0.1  # SlowOperations
P99_LATENCY_LIMIT = 0.5  # OperationLatencyP99High
MEMORY_LIMIT = 500 * 1024 * 1024  # HighMemory
CACHE_HIT_FLOOR = 0.7  # CacheHitRateLow
QUEUE_LIMIT = 100  # JobQueueBacklog
HTTP_5XX_LIMIT = 0.05  # HttpRouteServerErrors


def sli_operations() -> str:
    """The user-facing operation regex, as the availability SLI recording rule has it."""
    groups = yaml.safe_load(RECORDING_RULES.read_text())["groups"]
    for group in groups:
        for rule in group["rules"]:
            if rule.get("record") == "job:aiexpense_requests:rate5m":
                (regex,) = re.findall(r'operation=~"([^"]+)"', rule["expr"])
                return regex
    raise LookupError(f"job:aiexpense_requests:rate5m not found in {RECORDING_RULES}")


# --- small builders ---------------------------------------------------------------------


def query(expr: str, legend: str = "__auto", ref: str = "A", *, instant: bool = False):
    q = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)
    return q.instant() if instant else q.range()


def thresholds(*steps: tuple[float | None, str]):
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=v, color=c) for v, c in steps])
    )


def value_map(mapping: dict[str, tuple[str, str]]) -> list[model.ValueMapping]:
    options = {
        value: model.ValueMappingResult(text=text, color=color, index=i)
        for i, (value, (text, color)) in enumerate(mapping.items())
    }
    return [model.ValueMap(options=options)]


def graph(title: str, description: str, unit: str, *targets, span: int = 12, height: int = 8):
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(span)
        .height(height)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def graph_with_limit(title, description, unit, limit, *targets, span=12, height=8):
    """A time series with the alert threshold drawn as a dashed red line."""
    return (
        graph(title, description, unit, *targets, span=span, height=height)
        .thresholds(thresholds((None, "green"), (limit, "red")))
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
            )
        )
    )


def label_variable(name: str, label: str, description: str, query: str) -> dash.QueryVariable:
    """A variable listing a label's values from Prometheus, refreshed with the time range."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )


def single(title: str, description: str, unit: str, target, *, span: int = 4, height: int = 4):
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(span)
        .height(height)
        .with_target(target)
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
    )


def timeline(title: str, description: str, target, mappings, *, span: int = 12):
    return (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .unit("none")
        .datasource(DATASOURCE)
        .span(span)
        .height(6)
        .with_target(target)
        .mappings(mappings)
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
    )


# --- queries ----------------------------------------------------------------------------


def ops(extra: str = "") -> str:
    return f"aiexpense_operations_total{{{SCOPE}{extra}}}"


def errors(extra: str = "") -> str:
    return f"aiexpense_operation_errors_total{{{SCOPE}{extra}}}"


def duration(suffix: str, extra: str = "") -> str:
    return f"aiexpense_operation_duration_seconds_{suffix}{{{SCOPE}{extra}}}"


def http_rate(by: str, extra: str = "") -> str:
    return f"sum by ({by}) (rate(aiexpense_http_requests_total{{{SCOPE}{extra}}}[{RATE}]))"


# 5xx share per route; "or 0 * ...": a route with no 5xx series reads 0%, not no data
SERVER_ERRORS = ', status=~"5.."'
HTTP_5XX_RATIO = (
    "(\n"
    f"    {http_rate('route', SERVER_ERRORS)}\n"
    f"  or 0 * {http_rate('route')}\n"
    f") / ({http_rate('route')} > 0)"
)


HEALTH_STATE = (
    "max by (instance) (\n"
    f'    0 * (aiexpense_health_status{{{SCOPE}, aiexpense_health_status="healthy"}} == 1)\n'
    f'  or 1 * (aiexpense_health_status{{{SCOPE}, aiexpense_health_status="degraded"}} == 1)\n'
    f'  or 2 * (aiexpense_health_status{{{SCOPE}, aiexpense_health_status="unhealthy"}} == 1)\n'
    ")"
)
HEALTH_MAPPINGS = value_map(
    {"0": ("healthy", "green"), "1": ("degraded", "orange"), "2": ("unhealthy", "red")}
)
UP_MAPPINGS = value_map({"1": ("up", "green"), "0": ("down", "red")})


def build() -> model.Dashboard:
    sli = f', operation=~"{sli_operations()}"'
    requests_rate = f"sum(rate({ops(sli)}[{RATE}]))"
    errors_rate = f"sum(rate({errors(sli)}[{RATE}]))"
    selected = ', operation=~"$operation"'

    def request_quantile(q: str) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({duration('bucket', sli)}[{RATE}])))"

    def operation_quantile(q: str) -> str:
        return (
            f"histogram_quantile({q}, sum by (le) (rate({duration('bucket', selected)}[{RATE}])))"
        )

    builder = (
        dash.Dashboard(TITLE)
        .uid(UID)
        .description(
            "Health, traffic, errors, latency, resources, database pool, caches, job queue "
            "and the availability SLO of the aiexpense service. Alerts and runbooks: "
            "alerts/alerts.rules.yml, docs/runbooks.md."
        )
        .tags(["aiexpense", "generated"])
        .readonly()
        .timezone("browser")
        .time("now-6h", "now")
        .refresh("30s")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dash.DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
            .description("The Prometheus that scrapes the aiexpense service.")
        )
        .with_variable(
            label_variable(
                "job",
                "Job",
                "Prometheus scrape job of the service.",
                "label_values(aiexpense_build_info, job)",
            )
        )
        .with_variable(
            label_variable(
                "instance",
                "Instance",
                "Replicas of the service (all by default).",
                'label_values(aiexpense_build_info{job=~"$job"}, instance)',
            )
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
        .with_variable(
            label_variable(
                "operation",
                "Operation",
                "Operations shown in the per-operation panels (all by default).",
                'label_values(aiexpense_operations_total{job=~"$job"}, operation)',
            )
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
        # --- at a glance ---------------------------------------------------------------
        .with_row(dash.Row("At a glance"))
        .with_panel(
            single(
                "Health status",
                "Each instance's own verdict (GET /monitoring/health): healthy, degraded "
                "(error rate 3-5%, memory 300-500MB, requests waiting for the pool) or "
                "unhealthy (database down, error rate > 5%, memory >= 500MB, sampler "
                "stalled; readiness answers 503).",
                "none",
                query(HEALTH_STATE, "{{instance}}", instant=True),
            )
            .mappings(HEALTH_MAPPINGS)
            .thresholds(thresholds((None, "green"), (1, "orange"), (2, "red")))
        )
        .with_panel(
            single(
                "Database",
                "Last database ping of each instance's health sampler (aiexpense_db_up). "
                "DatabaseDown pages after a minute down.",
                "none",
                query(
                    f"min by (instance) (aiexpense_db_up{{{SCOPE}}})", "{{instance}}", instant=True
                ),
            )
            .mappings(UP_MAPPINGS)
            .thresholds(thresholds((None, "red"), (1, "green")))
        )
        .with_panel(
            single(
                "Requests",
                "User-facing operations per second (the six webhooks and the JSON API's "
                "operations; internal db_*/cache_* steps excluded).",
                "reqps",
                query(requests_rate, "requests/s", instant=True),
            ).thresholds(thresholds((None, "blue")))
        )
        .with_panel(
            single(
                "Error rate",
                "Share of user-facing operations that failed. HighErrorRate pages above "
                "0.5% for 5 minutes.",
                "percentunit",
                query(f"{errors_rate} / ({requests_rate} > 0)", "error rate", instant=True),
            ).thresholds(thresholds((None, "green"), (ERROR_RATE_LIMIT, "red")))
        )
        .with_panel(
            single(
                "p99 latency",
                "99th percentile latency of user-facing operations, from the histogram buckets.",
                "s",
                query(request_quantile("0.99"), "p99", instant=True),
            ).thresholds(thresholds((None, "green"), (P99_LATENCY_LIMIT, "red")))
        )
        .with_panel(
            single(
                "Error budget left",
                "Share of the availability SLO's error budget not yet spent over the "
                "selected time range (set the range to 30 days for the monthly budget). "
                "The objective comes from the aiexpense:slo_* recording rules; below 0 "
                "the SLO is missed.",
                "percentunit",
                query(
                    "1 - (\n"
                    f"    sum(increase({errors(sli)}[$__range]))\n"
                    f"  / (sum(increase({ops(sli)}[$__range])) > 0)\n"
                    ") / on () group_left () aiexpense:slo_error_budget:ratio",
                    "budget left",
                    instant=True,
                ),
            ).thresholds(thresholds((None, "red"), (0, "orange"), (0.5, "green")))
        )
        # --- requests and operations ---------------------------------------------------
        .with_row(dash.Row("Operations"))
        .with_panel(
            graph_with_limit(
                "Request latency p50 / p95 / p99",
                "Latency percentiles of all user-facing operations together, estimated "
                "from the histogram buckets (0.1 ms .. 10 s). The dashed line is "
                "OperationLatencyP99High's 500 ms.",
                "s",
                P99_LATENCY_LIMIT,
                query(request_quantile("0.5"), "p50", "A"),
                query(request_quantile("0.95"), "p95", "B"),
                query(request_quantile("0.99"), "p99", "C"),
            )
        )
        .with_panel(
            graph(
                "Operation latency p50 / p95 / p99 ($operation)",
                "Latency percentiles of the operations picked in the Operation variable, "
                "taken together. Pick one operation to see its own distribution.",
                "s",
                query(operation_quantile("0.5"), "p50", "A"),
                query(operation_quantile("0.95"), "p95", "B"),
                query(operation_quantile("0.99"), "p99", "C"),
            )
        )
        .with_panel(
            graph_with_limit(
                "p99 latency by operation",
                "99th percentile latency of each operation. Operations with no calls in "
                "the window are hidden (their percentile is undefined).",
                "s",
                P99_LATENCY_LIMIT,
                query(
                    "histogram_quantile(0.99, sum by (operation, le) "
                    f"(rate({duration('bucket', selected)}[{RATE}]))) >= 0",
                    "{{operation}}",
                ),
            )
        )
        .with_panel(
            graph_with_limit(
                "Average latency by operation",
                "Mean latency of each operation (the spec's avg_latency_ms, over a window). "
                "The dashed line is SlowOperations' 100 ms.",
                "s",
                MEAN_LATENCY_LIMIT,
                query(
                    f"sum by (operation) (rate({duration('sum', selected)}[{RATE}]))\n"
                    f"  / (sum by (operation) (rate({duration('count', selected)}[{RATE}])) > 0)",
                    "{{operation}}",
                ),
            )
        )
        .with_panel(
            graph_with_limit(
                "Error rate by operation",
                "Share of each operation's calls that failed (a webhook's signature "
                "failures count). Idle operations are hidden.",
                "percentunit",
                ERROR_RATE_LIMIT,
                query(
                    f"sum by (operation) (rate({errors(selected)}[{RATE}]))\n"
                    f"  / (sum by (operation) (rate({ops(selected)}[{RATE}])) > 0)",
                    "{{operation}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Throughput by operation",
                "Calls per second of each operation, internal ones included (one webhook "
                "message runs auto_signup, parse_conversation, create_expense, db_* ...).",
                "ops",
                query(f"sum by (operation) (rate({ops(selected)}[{RATE}]))", "{{operation}}"),
            )
        )
        # --- HTTP requests (HttpMetricsMiddleware): the RED view per route --------------
        .with_row(dash.Row("HTTP requests by route"))
        .with_panel(
            graph(
                "Request rate by route",
                "HTTP requests per second by route template (all methods and statuses). "
                '"unmatched" is every path no route matched (404s); /metrics and '
                "/monitoring/* are not counted.",
                "reqps",
                query(http_rate("route"), "{{route}}"),
            )
        )
        .with_panel(
            graph_with_limit(
                "5xx ratio by route",
                "Share of each route's requests answered with a 5xx status (a 499, the "
                "client going away, is not one). The dashed line is HttpRouteServerErrors' "
                "5% (which also needs 30 requests in 5 minutes).",
                "percentunit",
                HTTP_5XX_LIMIT,
                query(HTTP_5XX_RATIO, "{{route}}"),
            )
        )
        .with_panel(
            graph(
                "p99 latency by route",
                "99th percentile of the time from a request's arrival to the end of its "
                "response, by route template. Exemplars (diamonds) link a bucket to the "
                "trace of a request in it, when requests carry a traceparent header.",
                "s",
                query(
                    "histogram_quantile(0.99, sum by (route, le) "
                    f"(rate(aiexpense_http_request_duration_seconds_bucket{{{SCOPE}}}[{RATE}])))"
                    " >= 0",
                    "{{route}}",
                ).exemplar(True),
            )
        )
        .with_panel(
            graph(
                "Responses by status",
                "HTTP responses per second by status code: 4xx are refused requests "
                "(bad input, unknown paths), 5xx server errors, 499 clients that went away.",
                "reqps",
                query(http_rate("status"), "{{status}}"),
            )
        )
        .with_panel(
            graph(
                "HTTP requests in progress",
                "Requests being served right now by each instance (all methods). Growth "
                "without more traffic means requests are getting stuck (pool waits, a slow "
                "upstream).",
                "short",
                query(
                    f"sum by (instance) (aiexpense_http_requests_in_progress{{{SCOPE}}})",
                    "{{instance}}",
                ),
                span=24,
            )
        )
        # --- process --------------------------------------------------------------------
        .with_row(dash.Row("Process"))
        .with_panel(
            graph_with_limit(
                "Memory (resident)",
                "Resident memory of each instance (what /monitoring/health reports as "
                "alloc). The dashed line is HighMemory's 500 MiB; the health checker calls "
                "the instance unhealthy there too.",
                "bytes",
                MEMORY_LIMIT,
                query(f"process_resident_memory_bytes{{{SCOPE}}}", "{{instance}}"),
                span=12,
            )
        )
        .with_panel(
            graph(
                "CPU",
                "CPU time used per second by each instance: 100% is one full core.",
                "percentunit",
                query(f"rate(process_cpu_seconds_total{{{SCOPE}}}[{RATE}])", "{{instance}}"),
                span=12,
            )
        )
        .with_panel(
            graph(
                "Garbage collections",
                "Python garbage collections per second by generation. A rising rate of "
                "generation 2 collections usually comes with memory growth.",
                "ops",
                query(
                    f"sum by (instance, generation) "
                    f"(rate(python_gc_collections_total{{{SCOPE}}}[{RATE}]))",
                    "{{instance}} gen {{generation}}",
                ),
                span=12,
            )
        )
        .with_panel(
            graph(
                "Open file descriptors",
                "Open file descriptors of each instance (sockets included). Steady growth "
                "is a connection leak.",
                "short",
                query(f"process_open_fds{{{SCOPE}}}", "{{instance}}"),
                span=12,
            )
        )
        # --- database -------------------------------------------------------------------
        .with_row(dash.Row("Database"))
        .with_panel(
            graph(
                "Pool connections",
                "PostgreSQL pool connections by state, against the pool maximum. In use "
                "near the maximum for 10 minutes raises DatabasePoolNearlyExhausted.",
                "short",
                query(
                    f"sum by (state) (aiexpense_db_pool_connections{{{SCOPE}}})",
                    "{{state}}",
                    "A",
                ),
                query(
                    f"sum(aiexpense_db_pool_max_connections{{{SCOPE}}})",
                    "maximum",
                    "B",
                ),
            )
        )
        .with_panel(
            graph(
                "Requests waiting for a connection",
                "Requests queued for a pool connection right now (0 is normal). Waiting at "
                "every check for 5 minutes raises DatabasePoolRequestsWaiting.",
                "short",
                query(f"aiexpense_db_pool_requests_waiting{{{SCOPE}}}", "{{instance}}"),
            )
        )
        .with_panel(
            graph(
                "Time waiting for a connection",
                "Seconds spent waiting for a pool connection per second of wall time, "
                "summed over requests: 0.5 means requests together waited half a second "
                "every second.",
                "s",
                query(
                    f"sum by (instance) (rate(aiexpense_db_pool_wait_seconds_total{{{SCOPE}}}"
                    f"[{RATE}]))",
                    "{{instance}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Database ping",
                "Round trip of the health sampler's SELECT 1 on each instance.",
                "s",
                query(f"aiexpense_db_ping_seconds{{{SCOPE}}}", "{{instance}}"),
            )
        )
        .with_panel(
            graph(
                "Pool errors and lost connections",
                "Failed connection attempts and connections found broken, per second.",
                "ops",
                query(
                    f"sum(rate(aiexpense_db_pool_errors_total{{{SCOPE}}}[{RATE}]))",
                    "errors",
                    "A",
                ),
                query(
                    f"sum(rate(aiexpense_db_pool_connections_lost_total{{{SCOPE}}}[{RATE}]))",
                    "lost",
                    "B",
                ),
                span=24,
            )
        )
        # --- caches and job queue --------------------------------------------------------
        .with_row(dash.Row("Caches and job queue"))
        .with_panel(
            graph_with_limit(
                "Cache hit rate",
                "Share of lookups each cache answered from memory. The dashed line is "
                "CacheHitRateLow's 70% (which also needs 100 lookups per 5 minutes).",
                "percentunit",
                CACHE_HIT_FLOOR,
                query(
                    "sum by (cache) "
                    f'(rate(aiexpense_cache_requests_total{{{SCOPE}, result="hit"}}[{RATE}]))\n'
                    "  / (sum by (cache) "
                    f"(rate(aiexpense_cache_requests_total{{{SCOPE}}}[{RATE}])) > 0)",
                    "{{cache}}",
                ),
            ).thresholds(thresholds((None, "red"), (CACHE_HIT_FLOOR, "green")))
        )
        .with_panel(
            graph(
                "Cache entries",
                "Entries held by each LRU cache (summed over instances).",
                "short",
                query(f"sum by (cache) (aiexpense_cache_entries{{{SCOPE}}})", "{{cache}}"),
            )
        )
        .with_panel(
            graph_with_limit(
                "Job queue depth",
                "Jobs waiting in each instance's queue, and its capacity; replies due in "
                "the shared PostgreSQL outbox (ReplyBacklog fires above 100). The dashed "
                "line is JobQueueBacklog's 100 jobs.",
                "short",
                QUEUE_LIMIT,
                query(f"aiexpense_job_queue_depth{{{SCOPE}}}", "{{instance}} depth", "A"),
                query(f"aiexpense_job_queue_capacity{{{SCOPE}}}", "{{instance}} capacity", "B"),
                # every replica reports the same database-wide figure: max, not sum
                query(f"max(aiexpense_reply_outbox_due{{{SCOPE}}})", "reply outbox due", "C"),
            )
        )
        .with_panel(
            graph(
                "Jobs by result",
                "Jobs finished per second by kind and result. Errors here are usually a "
                "chat platform's API refusing or timing out a reply.",
                "ops",
                # The service labels the job kind "job", which collides with the target's
                # job label: Prometheus keeps the target's and renames the service's to
                # exported_job.
                query(
                    f"sum by (exported_job, result) "
                    f"(rate(aiexpense_jobs_total{{{SCOPE}}}[{RATE}]))",
                    "{{exported_job}} {{result}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Replies by outcome",
                "Chat replies per second by outcome, over all replicas: delivered and failed "
                "end a reply; retry is an attempt to repeat (429/5xx, after Retry-After); "
                "reclaimed is a reply taken over from a dead replica (a possible duplicate).",
                "ops",
                query(
                    f"sum by (outcome) (rate(aiexpense_replies_total{{{SCOPE}}}[{RATE}]))",
                    "{{outcome}}",
                ),
            )
        )
        .with_panel(
            graph(
                "Cache invalidations by source",
                "Keys dropped per second: local (this replica's writes), notify (writes "
                "announced by PostgreSQL, from any replica), resync (whole caches emptied "
                "after a listener reconnected).",
                "ops",
                query(
                    "sum by (cache, source) "
                    f"(rate(aiexpense_cache_invalidations_total{{{SCOPE}}}[{RATE}]))",
                    "{{cache}} {{source}}",
                ),
            )
        )
        # --- health ---------------------------------------------------------------------
        .with_row(dash.Row("Health"))
        .with_panel(
            timeline(
                "Health status over time",
                "Each instance's status as /monitoring/health reported it at every scrape.",
                query(HEALTH_STATE, "{{instance}}"),
                HEALTH_MAPPINGS,
            )
        )
        .with_panel(
            timeline(
                "Health checks",
                "The individual checks behind the status (database, memory, error_rate, "
                "sampler) per instance: ok or failing.",
                query(f"aiexpense_health_check_up{{{SCOPE}}}", "{{instance}} {{check}}"),
                value_map({"1": ("ok", "green"), "0": ("failing", "red")}),
            )
        )
        # --- SLO ------------------------------------------------------------------------
        .with_row(dash.Row("Availability SLO"))
        .with_panel(
            graph(
                "Availability vs objective",
                "Share of user-facing operations that succeeded, against the SLO "
                "objective (aiexpense:slo_availability_objective:ratio, 99.9% unless "
                "changed in alerts/recording.rules.yml).",
                "percentunit",
                query(f"1 - {errors_rate} / ({requests_rate} > 0)", "availability", "A"),
                query("aiexpense:slo_availability_objective:ratio", "objective", "B"),
            )
        )
        .with_panel(
            graph(
                "Error budget burn rate",
                "How many times faster than sustainable the error budget is being spent, "
                "per alert window (1 = exactly used up in 30 days). ErrorBudgetBurn pages "
                "at 14.4x (1h) and 6x (6h), opens a ticket at 3x (1d) and 1x (3d), each "
                "only while its short window burns too.",
                "suffix:x",
                query('job:aiexpense_slo_burn_rate:rate1h{job=~"$job"}', "1h", "A"),
                query('job:aiexpense_slo_burn_rate:rate6h{job=~"$job"}', "6h", "B"),
                query('job:aiexpense_slo_burn_rate:rate1d{job=~"$job"}', "1d", "C"),
                query('job:aiexpense_slo_burn_rate:rate3d{job=~"$job"}', "3d", "D"),
            )
            .thresholds(
                thresholds(
                    (None, "green"), (1, "yellow"), (3, "orange"), (6, "red"), (14.4, "dark-red")
                )
            )
            .thresholds_style(
                common_builders.GraphThresholdsStyleConfig().mode(
                    common.GraphThresholdsStyleMode.DASHED
                )
            )
        )
    )
    dashboard = builder.build()
    for number, panel in enumerate(dashboard.panels or [], start=1):
        panel.id_val = number
    return dashboard
