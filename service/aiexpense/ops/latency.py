"""Latency percentiles per operation and over the SLI's requests, and the alert on a slow
tail (the kit alerts on the mean: SlowOperations)."""

# ruff: noqa: E501 (the runbooks' commands are pasted whole during incidents: not wrapped)

from __future__ import annotations

from exporter.assets import Alert, Extension, Panel, Query, RecordingRule, Row

from .common import RATE, SLI, panel_sel, sel, series
from .proofs import case, stays_quiet

QUANTILES = ("0.5", "0.95", "0.99")
P99_LIMIT = 0.5  # seconds
BUCKETS = "job_operation_le:aiexpense_operation_duration_seconds_bucket:rate5m"
REQUEST_BUCKETS = "job_le:aiexpense_request_duration_seconds_bucket:rate5m"
P99 = "job_operation:aiexpense_operation_duration_seconds:quantile_rate5m"

RECORDING = (
    RecordingRule(
        "job_operation:aiexpense_operation_errors:rate5m",
        f"sum by (job, operation) (rate({sel('aiexpense_operation_errors_total')}[5m]))",
    ),
    # "> 0": an operation nobody called has no error ratio (not NaN)
    RecordingRule(
        "job_operation:aiexpense_operation_errors:ratio_rate5m",
        "job_operation:aiexpense_operation_errors:rate5m\n"
        "  / (job_operation:aiexpense_operations:rate5m > 0)",
    ),
    RecordingRule(
        BUCKETS,
        "sum by (job, operation, le) "
        f"(rate({sel('aiexpense_operation_duration_seconds_bucket')}[5m]))",
    ),
    # ">= 0" drops the NaN histogram_quantile gives an operation without calls
    *(
        RecordingRule(P99, f"histogram_quantile({q}, {BUCKETS}) >= 0", {"quantile": q})
        for q in QUANTILES
    ),
    # the SLI's requests together: what the canary's p99 is compared like
    RecordingRule(
        REQUEST_BUCKETS,
        f"sum by (job, le) (rate({sel('aiexpense_operation_duration_seconds_bucket', SLI)}[5m]))",
    ),
    *(
        RecordingRule(
            "job:aiexpense_request_duration_seconds:quantile_rate5m",
            f"histogram_quantile({q}, {REQUEST_BUCKETS}) >= 0",
            {"quantile": q},
        )
        for q in QUANTILES
    ),
)


def _buckets(operation: str, counts: dict[str, str]) -> dict[str, str]:
    name = "aiexpense_operation_duration_seconds_bucket"
    return {series(name, operation=operation, le=le): v for le, v in counts.items()}


P99_HIGH = Alert(
    name="OperationLatencyP99High",
    # at least 100 calls in the window, or "p99" is the slowest of a handful
    expr=f'{P99}{{quantile="0.99", operation!="send_reply"}} > {P99_LIMIT}\n'
    "and on (job, operation) job_operation:aiexpense_operations:rate5m * 300 >= 100",
    for_="10m",
    severity="warning",
    summary="aiexpense operation {{ $labels.operation }} p99 latency is "
    "{{ $value | humanizeDuration }}",
    description="The 99th percentile latency of {{ $labels.operation }} (job {{ $labels.job }}) "
    "has been {{ $value | humanizeDuration }} over 5-minute windows for 10 minutes "
    "(threshold 500ms).",
    runbook="""**Means.** The slowest 1% of one operation's calls took more than 500 ms, over
5-minute windows, for 10 minutes, with at least 100 calls in the window. The mean
(SlowOperations) can look fine while a minority of calls (lock waits, pool waits, GC pauses,
one slow replica) suffers. `send_reply` (a chat platform's API, off the request path) is
left out.

**Check.**

```bash
promtool query instant http://localhost:9090 'job_operation:aiexpense_operation_duration_seconds:quantile_rate5m{quantile="0.99"} > 0.5'
# one replica or all?
promtool query instant http://localhost:9090 'histogram_quantile(0.99, sum by (instance, le) (rate(aiexpense_operation_duration_seconds_bucket{operation="create_expense"}[5m])))'
promtool query instant http://localhost:9090 'rate(aiexpense_db_pool_wait_seconds_total[5m])'
promtool query instant http://localhost:9090 'rate(python_gc_collections_total{job="aiexpense"}[5m])'
```

**Fix.**
- One instance: noisy neighbour or a bad node; delete the pod.
- Pool waits rising: see [DatabasePoolSaturated](#databasepoolsaturated).
- Many gen-2 GC collections: memory pressure; see [HighMemory](#highmemory).
- Otherwise as [SlowOperations](#slowoperations).""",
    cases=(
        case(
            "OperationLatencyP99High fires on a 900ms p99 for 10 minutes and resolves",
            {
                # 95% under 100 ms, then from 21m 5% at 500ms..1s: p99 900 ms
                **_buckets(
                    "create_expense",
                    {
                        "0.1": "0+57x20 1200+60x20",
                        "0.5": "0+57x20 1200+60x20",
                        "1": "0+60x20 1260+60x20",
                        "+Inf": "0+60x20 1260+60x20",
                    },
                ),
                series("aiexpense_operations_total", operation="create_expense"): "0+60x40",
            },
            quiet=("8m",),
            firing=("15m",),
            resolved=("30m",),
            labels={"job": "aiexpense", "operation": "create_expense", "quantile": "0.99"},
            value=0.9,
        ),
    ),
)

QUIET = stays_quiet(
    "OperationLatencyP99High stays quiet with a fast tail or too few calls",
    "OperationLatencyP99High",
    {
        # every call under 100 ms
        **_buckets("get_expenses", {"0.1": "0+60x30", "1": "0+60x30", "+Inf": "0+60x30"}),
        series("aiexpense_operations_total", operation="get_expenses"): "0+60x30",
        # half the calls slow, but 10 a minute (50 per 5 minutes < 100)
        **_buckets("update_expense", {"0.1": "0+5x30", "1": "0+10x30", "+Inf": "0+10x30"}),
        series("aiexpense_operations_total", operation="update_expense"): "0+10x30",
    },
    ("25m",),
)


def _request_quantile(q: str) -> str:
    bucket = panel_sel("aiexpense_operation_duration_seconds_bucket", SLI)
    return f"histogram_quantile({q}, sum by (le) (rate({bucket}[{RATE}])))"


ROW = Row(
    "Latency",
    (
        Panel(
            "Request latency p50 / p95 / p99",
            "Latency percentiles of the user-facing operations together (the SLO's "
            "requests), from the histogram buckets. The dashed line is "
            "OperationLatencyP99High's 500 ms (which watches each operation).",
            "s",
            tuple(Query(_request_quantile(q), f"p{q[2:].ljust(2, '0')}") for q in QUANTILES),
            limit=P99_LIMIT,
            width=24,
        ),
    ),
)

LATENCY = Extension(
    name="latency",
    recording=RECORDING,
    alerts=(P99_HIGH,),
    rule_tests=(QUIET,),
    rows=(ROW,),
)
