"""The canary, measured: the canary track's error ratio and p99 latency against the stable
track's over the same 5-minute window, and a page when the canary is worse.

``track`` comes from the pods' label, put on every series by the ServiceMonitor
(``[kubernetes] pod_labels`` in service/monitoring.toml); the version from the service's
own ``aiexpense_build_info{version}``. Without a track (the local docker-compose stack)
every rule here records nothing. The requests compared are the SLI's (``common.SLI``).
Thresholds are docs/deployment.md's go/no-go criteria: the canary's error ratio at most
the error budget above stable's, its p99 at most 1.2x stable's; each needs 100 requests
in the window on both tracks.
"""

# ruff: noqa: E501 (the runbooks' commands are pasted whole during incidents: not wrapped)

from __future__ import annotations

from exporter.assets import Alert, Extension, RecordingRule

from .common import SLI, sel
from .proofs import case, stays_quiet

TRACKED = 'track!=""'
REQUESTS = "job_track:aiexpense_requests:rate5m"
ERRORS = "job_track:aiexpense_request_errors:rate5m"
RATIO = "job_track:aiexpense_request_errors:ratio_rate5m"
BUCKETS = "job_track_le:aiexpense_request_duration_seconds_bucket:rate5m"
P99 = "job_track:aiexpense_request_duration_seconds:quantile_rate5m"
VERSIONS = "job_track_version:aiexpense_build_info:count"
BUDGET = "aiexpense:slo_availability_error_budget:ratio"  # the kit's, from the spec


def _by_track(metric: str, by: str = "job, track") -> str:
    return f"sum by ({by}) (rate({sel(metric, TRACKED, SLI)}[5m]))"


RECORDING = (
    RecordingRule(REQUESTS, _by_track("aiexpense_operations_total")),
    RecordingRule(ERRORS, _by_track("aiexpense_operation_errors_total")),
    RecordingRule(
        BUCKETS, _by_track("aiexpense_operation_duration_seconds_bucket", "job, track, le")
    ),
    # "> 0": a track without traffic has no ratio (not NaN)
    RecordingRule(RATIO, f"{ERRORS} / ({REQUESTS} > 0)"),
    RecordingRule(P99, f"histogram_quantile(0.99, {BUCKETS}) >= 0", {"quantile": "0.99"}),
    # which versions run on each track, on how many targets: the first thing to look at
    RecordingRule(
        VERSIONS, f"count by (job, track, version) ({sel('aiexpense_build_info', TRACKED)})"
    ),
)
GUARD = (
    f'and on (job) {REQUESTS}{{track="canary"}} * 300 >= 100\n'
    f'and on (job) {REQUESTS}{{track="stable"}} * 300 >= 100'
)

RUNBOOK = """**Means.** During a canary rollout (`docs/deployment.md`), the canary track is
worse than the stable track over the same 5-minute window, for 10 minutes, with at least 100
user-facing requests on each track in the window. The label `signal` says how:

| `signal`      | fires when                                                          |
|---------------|---------------------------------------------------------------------|
| `error_ratio` | canary's error ratio > stable's + the SLO's error budget (0.1 point) |
| `p99_latency` | canary's p99 latency > 1.2 x stable's                               |

The series carry `track` because the ServiceMonitor copies the pods' `track` label onto
every target; the version comes from `aiexpense_build_info{version}`.

**Check.** Both tracks side by side, which versions run where, and which operation differs:

```bash
promtool query instant http://localhost:9090 'job_track:aiexpense_request_errors:ratio_rate5m'
promtool query instant http://localhost:9090 'job_track:aiexpense_request_duration_seconds:quantile_rate5m'
promtool query instant http://localhost:9090 'job_track:aiexpense_requests:rate5m * 300'
promtool query instant http://localhost:9090 'job_track_version:aiexpense_build_info:count'
promtool query instant http://localhost:9090 'sort_desc(sum by (track, operation) (rate(aiexpense_operation_errors_total{track!=""}[5m])) > 0)'
promtool query instant http://localhost:9090 'histogram_quantile(0.99, sum by (track, operation, le) (rate(aiexpense_operation_duration_seconds_bucket{track!=""}[5m])))'
kubectl -n aiexpense logs -l track=canary --since=30m | grep -i error | head
```

**Fix.**
- Take the canary out of rotation at once: `kubectl delete -k deploy/kubernetes/overlays/canary`
  (or scale it to 0). Stable carries the traffic; nothing else to roll back, since
  migrations are backward compatible.
- Then compare the failing operations above with the release's diff, and the canary's logs.
- The alert is quiet below 100 requests per track in 5 minutes: with little traffic, judge
  by eye over a longer window (`[30m]` instead of `[5m]` in the queries above)."""


def _target(track: str) -> dict[str, str]:
    return {"instance": "app-s1:8080" if track == "stable" else "app-c1:8080", "track": track}


def _series(name: str, track: str, **labels: str) -> str:
    every = {"job": "aiexpense", **_target(track), **labels}
    return f"{name}{{{', '.join(f'{k}={chr(34)}{v}{chr(34)}' for k, v in every.items())}}}"


def _calls(track: str, operation: str, total: str, errors: str) -> dict[str, str]:
    return {
        _series("aiexpense_operations_total", track, operation=operation): total,
        _series("aiexpense_operation_errors_total", track, operation=operation): errors,
    }


def _buckets(track: str, operation: str, counts: dict[str, str]) -> dict[str, str]:
    name = "aiexpense_operation_duration_seconds_bucket"
    return {_series(name, track, operation=operation, le=le): v for le, v in counts.items()}


ERROR_INPUT = {
    # stable: 100/s, 0.1% errors throughout
    **_calls("stable", "create_expense", "0+6000x60", "0+6x60"),
    # canary: ~16.7/s; 0.1% errors until 20m, 10% from 21m to 41m, 0.1% again after
    **_calls("canary", "create_expense", "0+1000x60", "0+1x20 120+100x20 2121+1x18"),
    # an internal operation failing hard on the canary is not a request: it does not count
    **_calls("canary", "db_query", "0+6000x60", "0+3000x60"),
    # a target without a track (another deployment in the same job) is left out
    'aiexpense_operations_total{job="aiexpense", instance="other:8080", operation="create_expense"}': "0+6000x60",
    'aiexpense_operation_errors_total{job="aiexpense", instance="other:8080", operation="create_expense"}': "0+6000x60",
    _series("aiexpense_build_info", "stable", version="0.2.0"): "1x60",
    _series("aiexpense_build_info", "canary", version="0.3.0"): "1x60",
    'aiexpense_build_info{job="aiexpense", instance="other:8080", version="0.1.0"}': "1x60",
}
FAST = {"0.01": "0+3000x60", "0.05": "0+6000x60", "0.1": "0+6000x60", "0.5": "0+6000x60"}
LATENCY_INPUT = {
    # stable: 100/s, half under 10 ms, all under 50 ms; no errors
    **_calls("stable", "get_expenses", "0+6000x60", "0x60"),
    **_buckets("stable", "get_expenses", {**FAST, "+Inf": "0+6000x60"}),
    # canary: ~16.7/s, the same shape until 20m; from 21m to 41m 5% take 100-500 ms
    **_calls("canary", "get_expenses", "0+1000x60", "0x60"),
    **_buckets(
        "canary",
        "get_expenses",
        {
            "0.01": "0+500x60",
            "0.05": "0+1000x20 20950+950x20 40050+1000x18",
            "0.1": "0+1000x20 20950+950x20 40050+1000x18",
            "0.5": "0+1000x60",
            "+Inf": "0+1000x60",
        },
    ),
    _series("aiexpense_build_info", "canary", version="0.3.0"): "1x60",
}

WORSE_ERRORS = Alert(
    name="CanaryWorse",
    # the tolerated excess is the SLO's error budget: moving the objective moves it too
    expr=f'(\n  {RATIO}{{track="canary"}}\n    - on (job) {RATIO}{{track="stable"}}\n'
    f") > on () group_left () {BUDGET}\n{GUARD}",
    for_="10m",
    severity="page",
    labels={"signal": "error_ratio"},
    summary="The aiexpense canary fails {{ $value | humanizePercentage }} more requests "
    "than stable",
    description="Over the last 5 minutes the canary track of job {{ $labels.job }} failed "
    "{{ $value | humanizePercentage }} more of its user-facing requests than the stable "
    f"track, for 10 minutes (threshold: the SLO's error budget, {BUDGET}). Stop the "
    "rollout and take the canary out of rotation; its version: "
    f'{VERSIONS}{{track="canary"}}.',
    runbook=RUNBOOK,
    cases=(
        case(
            "CanaryWorse (error ratio) is quiet while equal, fires when worse, resolves",
            ERROR_INPUT,
            quiet=("15m", "29m"),  # equal; then worse since 21m, "for" not yet elapsed
            firing=("33m",),
            resolved=("50m",),
            labels={"job": "aiexpense"},
            value=0.099,
        ),
    ),
)

WORSE_LATENCY = Alert(
    name="CanaryWorse",
    expr=f'{P99}{{quantile="0.99", track="canary"}}\n'
    f'  / on (job) {P99}{{quantile="0.99", track="stable"}}\n  > 1.2\n{GUARD}',
    for_="10m",
    severity="page",
    labels={"signal": "p99_latency"},
    summary="The aiexpense canary's p99 latency is {{ $value | humanize }}x stable's",
    description="Over the last 5 minutes the 99th percentile latency of the canary track of "
    "job {{ $labels.job }} has been {{ $value | humanize }} times the stable track's, for "
    "10 minutes (threshold 1.2x). Stop the rollout and take the canary out of rotation; its "
    f'version: {VERSIONS}{{track="canary"}}.',
    runbook=RUNBOOK,
    cases=(
        case(
            "CanaryWorse (p99 latency) is quiet while equal, fires when slower, resolves",
            LATENCY_INPUT,
            quiet=("15m", "29m"),
            firing=("33m",),
            resolved=("50m",),
            labels={"job": "aiexpense"},
            # p99: canary 0.1 + 0.4 * 40/50 = 0.42 s, stable 0.01 + 0.04 * 49/50 = 0.0492 s
            value=0.42 / 0.0492,
        ),
    ),
)


def _sample(name: str, value: float, **labels: str) -> dict[str, object]:
    inner = ", ".join(f'{k}="{v}"' for k, v in {"job": "aiexpense", **labels}.items())
    return {"labels": f"{name}{{{inner}}}", "value": value}


# What the recording rules give (the alerts' proofs only see the alerts).
RECORDED = {
    "name": "the canary's recording rules: per track, user-facing operations only",
    "interval": "1m",
    "input_series": [
        {"series": s, "values": v} for s, v in {**ERROR_INPUT, **LATENCY_INPUT}.items()
    ],
    "promql_expr_test": [
        {
            "expr": REQUESTS,
            "eval_time": "10m",
            "exp_samples": [
                _sample(REQUESTS, 200, track="stable"),
                _sample(REQUESTS, 33.333333333333336, track="canary"),
            ],
        },
        {
            "expr": f'{RATIO}{{track="canary"}}',
            "eval_time": "30m",
            # create_expense: 100 errors of 1000 a minute; get_expenses: none of 1000
            "exp_samples": [_sample(RATIO, 0.049999999999999996, track="canary")],
        },
        {
            "expr": VERSIONS,
            "eval_time": "10m",
            "exp_samples": [
                _sample(VERSIONS, 1, track="stable", version="0.2.0"),
                _sample(VERSIONS, 1, track="canary", version="0.3.0"),
            ],
        },
        {
            "expr": f'{P99}{{track="stable"}}',
            "eval_time": "30m",
            "exp_samples": [_sample(P99, 0.0492, track="stable", quantile="0.99")],
        },
    ],
}

STABLE = {
    **_calls("stable", "create_expense", "0+6000x60", "0x60"),
    **_buckets(
        "stable", "create_expense", {"0.01": "0+6000x60", "0.5": "0+6000x60", "+Inf": "0+6000x60"}
    ),
}
TOO_LITTLE = stays_quiet(
    "CanaryWorse stays quiet on a canary with too little traffic to judge",
    "CanaryWorse",
    {
        **STABLE,
        # 12 requests a minute (60 per 5 minutes, under the guard), half failing, all slow
        **_calls("canary", "create_expense", "0+12x60", "0+6x60"),
        **_buckets(
            "canary", "create_expense", {"0.01": "0x60", "0.5": "0+12x60", "+Inf": "0+12x60"}
        ),
    },
    ("15m", "45m"),
    # the comparison itself is recorded (someone can look), only the alert holds back
    promql_expr_test=[
        {
            "expr": f'{RATIO}{{track="canary"}}',
            "eval_time": "30m",
            "exp_samples": [_sample(RATIO, 0.5, track="canary")],
        }
    ],
)
BOTH_FAIL = stays_quiet(
    "CanaryWorse stays quiet when both tracks fail alike (not the canary's fault)",
    "CanaryWorse",
    # both at 10% errors (a database outage, say): HighErrorRate's business
    {
        **_calls("stable", "create_expense", "0+6000x40", "0+600x40"),
        **_calls("canary", "create_expense", "0+1000x40", "0+100x40"),
    },
    ("30m",),
)

CANARY = Extension(
    name="canary",
    recording=RECORDING,
    alerts=(WORSE_ERRORS, WORSE_LATENCY),
    rule_tests=(RECORDED, TOO_LITTLE, BOTH_FAIL),
)
