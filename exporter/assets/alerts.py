"""The alerts about the parts a service has, each with its promtool proofs and runbook.

Only the parts the spec names get alerts: no database, no database alert (it could never
fire, and its runbook would send someone to a database the service does not have).
Series of one process (up, memory, health, the pool) are judged per instance; rates of
requests are summed per job (users see the service, not a replica).
"""

from __future__ import annotations

from dataclasses import dataclass

from .cases import Steps, counter, gauge, selector
from .model import Alert, AlertCase
from .recording import Recorded
from .series import Series
from .sli import Sli, matcher
from .slo import sli_inputs
from .spec import Spec
from .windows import Clock


@dataclass(frozen=True)
class Context:
    spec: Spec
    clock: Clock
    sli: Sli
    recorded: Recorded

    @property
    def s(self) -> Series:
        return Series(self.spec.namespace)

    @property
    def job(self) -> str:
        return f'job="{self.spec.job}"'

    @property
    def instance(self) -> dict[str, str]:
        return {"job": self.spec.job, "instance": "app-1:8080"}

    def volume(self, rate: str, at_least: int) -> str:
        """``rate`` (per second, over 5m) * the window = at least N events in the window."""
        return f"{rate} * {self.clock.secs('5m'):g} >= {at_least}"

    def proven(
        self,
        steps: Steps,
        title: str,
        series: list[tuple[str, str]],
        labels: dict[str, str],
        value: float,
    ) -> tuple[AlertCase, ...]:
        if self.clock.scale != 1:  # proofs run at the real time scale only
            return ()
        return (
            AlertCase(
                title, tuple(series), steps.quiet, steps.firing, steps.resolved, labels, value
            ),
        )


def bad_ratio(threshold: float) -> float:
    """A clearly failing ratio for a threshold: four times it, or half way to 100%."""
    return 4 * threshold if 4 * threshold < 1 else (1 + threshold) / 2


# -- the target ---------------------------------------------------------------------------------


def target_down(c: Context) -> Alert:
    steps = Steps(2)
    return Alert(
        "TargetDown",
        f"up{{{c.job}}} == 0",
        c.clock.of("2m"),
        "page",
        f"{c.spec.title} instance {{{{ $labels.instance }}}} is down",
        "Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) for "
        "2 minutes (up = {{ $value | humanize }}): the process is dead, hung or unreachable.",
        f"""**Means.** Prometheus cannot scrape an instance of job `{c.spec.job}`: connection
refused, a timeout, or `/metrics` failing. A replica that cannot be scraped usually cannot
serve either.

**Check.** The target's last error: Prometheus's Status > Targets page, or
`curl -s localhost:9090/api/v1/targets | jq '.data.activeTargets[]
| select(.labels.job=="{c.spec.job}") | {{instance: .labels.instance, health, lastError}}'`.
Then the process itself: is it running, does `curl -s <instance>/monitoring/live` answer?

**Fix.** Restart a wedged process; if it crashes on start, read its logs for the first
error. A timeout under load: the scrape shares the event loop with requests; look at
CPU and at `{c.s.http_in_progress}`.""",
        c.proven(
            steps,
            "the target stops answering scrapes, then comes back",
            [(selector("up", c.instance), gauge(steps.phases(1, 0)))],
            c.instance,
            0.0,
        ),
    )


def target_absent(c: Context) -> Alert:
    case = AlertCase(
        "the job's targets vanish from service discovery, then return",
        ((selector("up", c.instance), "1x10 _x30 1x10"),),
        ("9m",),
        ("30m",),
        ("45m",),
        {"job": c.spec.job},
        1.0,
    )
    return Alert(
        "TargetAbsent",
        f"absent(up{{{c.job}}})",
        c.clock.of("5m"),
        "page",
        f"No {c.spec.title} target is being scraped",
        f"Prometheus has had no target for job {c.spec.job} for 5 minutes "
        "(absent = {{ $value | humanize }}): every other alert of the service is blind.",
        f"""**Means.** There is no `up{{job="{c.spec.job}"}}` series at all: the service is not
deployed, or service discovery (the ServiceMonitor's selector, the scrape config) no longer
finds it. TargetDown cannot fire for a target that does not exist; this alert does.

**Check.** `kubectl get servicemonitor,svc,endpoints -l` with the selector of the generated
ServiceMonitor; the Service must carry those labels and a port named as the ServiceMonitor
says. Prometheus's Status > Service Discovery page lists what was dropped and why.

**Fix.** Redeploy, or mend the labels so the ServiceMonitor selects the Service again.""",
        (case,) if c.clock.scale == 1 else (),
    )


# -- health ------------------------------------------------------------------------------------


def service_unhealthy(c: Context) -> Alert:
    steps = Steps(5)
    ns = c.spec.namespace
    name = c.s.health_status
    labels = {**c.instance, name: "unhealthy"}
    own = c.spec.parts.health_checks
    checks = "the built-in ones are memory, error_rate and sampler"
    checks += ", database" if c.spec.parts.database else ""
    checks += f"; the service's own: {', '.join(own)}" if own else ""
    return Alert(
        "ServiceUnhealthy",
        f'max by (job, instance) ({name}{{{c.job}, {name}="unhealthy"}}) == 1',
        c.clock.of("5m"),
        "page",
        f"{c.spec.title} instance {{{{ $labels.instance }}}} reports itself unhealthy",
        "{{ $labels.instance }} has reported status unhealthy for 5 minutes (value "
        "{{ $value | humanize }}): /monitoring/ready answers 503, so it takes no traffic.",
        f"""**Means.** The instance's own health checker judges it unhealthy: a critical check
fails ({checks}).
Readiness fails, so the load balancer stops sending it traffic.

**Check.** Which checks fail: `curl -s <instance>/monitoring/health | jq .checks`, or in
Prometheus `{ns}_health_check_up{{job="{c.spec.job}"}} == 0`.

**Fix.** Follow the failing check: memory (HighMemory), error_rate (HighErrorRate), sampler
(HealthSamplerStale){", database (DatabaseDown)" if c.spec.parts.database else ""}, or the
runbook of the service's own check.""",
        c.proven(
            steps,
            "the instance reports unhealthy, then recovers",
            [(selector(name, labels), gauge(steps.phases(0, 1)))],
            c.instance,
            1.0,
        ),
    )


def health_check_failing(c: Context) -> Alert:
    steps = Steps(5)
    checks = c.spec.parts.health_checks
    labels = {**c.instance, "check": checks[0]}
    return Alert(
        "HealthCheckFailing",
        f"{c.s.health_check_up}{{{c.job}, {matcher('check', checks)}}} == 0",
        c.clock.of("5m"),
        "warning",
        f"{c.spec.title} health check {{{{ $labels.check }}}} fails on {{{{ $labels.instance }}}}",
        "Check {{ $labels.check }} of {{ $labels.instance }} has failed for 5 minutes "
        "(up = {{ $value | humanize }}).",
        f"""**Means.** One of the service's own checks ({", ".join(f"`{n}`" for n in checks)})
has failed at every sampler round for 5 minutes. A critical check also makes the instance
unhealthy (ServiceUnhealthy); a non-critical one degrades it.

**Check.** `curl -s <instance>/monitoring/health | jq '.checks["<check>"]'`: its reason and
details say what it saw.

**Fix.** Mend what the check watches; the check's own documentation in the service says
what that is.""",
        c.proven(
            steps,
            "a check of the service's own fails, then passes",
            [(selector(c.s.health_check_up, labels), gauge(steps.phases(1, 0)))],
            {**labels},
            0.0,
        ),
    )


def sampler_stale(c: Context) -> Alert:
    steps = Steps(2)
    labels = {**c.instance, "check": "sampler"}
    return Alert(
        "HealthSamplerStale",
        f'{c.s.health_check_up}{{{c.job}, check="sampler"}} == 0',
        c.clock.of("2m"),
        "warning",
        f"The health sampler of {c.spec.title} instance {{{{ $labels.instance }}}} is stuck",
        "The health sampler of {{ $labels.instance }} has produced no report for 2 minutes "
        "(up = {{ $value | humanize }}): every health figure it serves is stale.",
        """**Means.** The background task that runs the health checks has stopped producing
reports: a check that ignores its timeout and blocks a thread, or the event loop stalled.
The probes then read an old report, marked unhealthy.

**Check.** The process's logs for a traceback from the sampler task; `curl -s
<instance>/monitoring/health | jq .checks.sampler` (its age).

**Fix.** Restart the instance; then find the check that blocks (a synchronous call without
a timeout) and bound it.""",
        c.proven(
            steps,
            "the sampler stalls, then reports again",
            [(selector(c.s.health_check_up, labels), gauge(steps.phases(1, 0)))],
            labels,
            0.0,
        ),
    )


# -- database --------------------------------------------------------------------------------


def database_down(c: Context) -> Alert:
    steps = Steps(1)
    return Alert(
        "DatabaseDown",
        f"{c.s.db_up}{{{c.job}}} == 0",
        c.clock.of("1m"),
        "page",
        f"{c.spec.title} instance {{{{ $labels.instance }}}} cannot reach its database",
        "The database ping from {{ $labels.instance }} has failed for 1 minute "
        f"({c.s.db_up} = {{{{ $value | humanize }}}}): everything that needs the database fails.",
        f"""**Means.** The health sampler's `SELECT 1` through the pool has failed for a minute
(`{c.s.db_up} == 0`).

**Check.** `curl -s <instance>/monitoring/health | jq .checks.database` (the error);
the database server's own state; `{c.s.pool_counter("connections_lost")}` for broken
connections.

**Fix.** Bring the database back, or mend the network path or credentials; the pool
reconnects by itself.""",
        c.proven(
            steps,
            "the database stops answering, then answers again",
            [(selector(c.s.db_up, c.instance), gauge(steps.phases(1, 0)))],
            c.instance,
            0.0,
        ),
    )


def pool_saturated(c: Context) -> Alert:
    steps = Steps(10)
    limit = c.spec.thresholds.pool_saturation
    in_use = {**c.instance, "state": "in_use"}
    return Alert(
        "DatabasePoolSaturated",
        f'{c.s.pool_connections}{{{c.job}, state="in_use"}}\n'
        f"  / ignoring (state) ({c.s.pool_max}{{{c.job}}} > 0)\n  >= {limit:g}",
        c.clock.of("10m"),
        "warning",
        "The database pool of {{ $labels.instance }} is {{ $value | humanizePercentage }} in use",
        "{{ $value | humanizePercentage }} of the pool's maximum connections on "
        f"{{{{ $labels.instance }}}} have been in use for 10 minutes (threshold {limit:.0%}).",
        f"""**Means.** At least {limit:.0%} of the pool's connections have been checked out for
10 minutes: one burst away from requests queueing (DatabasePoolRequestsWaiting).

**Check.** `{c.s.pool_connections}` by state and `{c.s.pool_waiting}`; slow queries on
the database; connections held across slow calls.

**Fix.** Shorten what holds a connection, or raise the pool's maximum (within what the
database allows for all replicas).""",
        c.proven(
            steps,
            "the pool fills up, then drains",
            [
                (selector(c.s.pool_connections, in_use), gauge(steps.phases(2, 19))),
                (selector(c.s.pool_max, c.instance), gauge(steps.phases(20, 20))),
            ],
            c.instance,
            0.95,
        ),
    )


def pool_waiting(c: Context) -> Alert:
    steps = Steps(5)
    return Alert(
        "DatabasePoolRequestsWaiting",
        f"{c.s.pool_waiting}{{{c.job}}} > 0",
        c.clock.of("5m"),
        "warning",
        "Requests wait for a database connection on {{ $labels.instance }}",
        "{{ $value | humanize }} requests on {{ $labels.instance }} are waiting for a pool "
        "connection, and some have been at every check for 5 minutes.",
        f"""**Means.** Requests queue for a pool connection all the time: the pool is too small
for the load, or connections are held too long.

**Check.** `rate({c.s.pool_counter("requests_wait_ms")}[5m])` (seconds waited per second)
and DatabasePoolSaturated.

**Fix.** As for DatabasePoolSaturated.""",
        c.proven(
            steps,
            "requests queue for connections, then stop",
            [(selector(c.s.pool_waiting, c.instance), gauge(steps.phases(0, 3)))],
            c.instance,
            3.0,
        ),
    )


# -- the process -------------------------------------------------------------------------------


def high_memory(c: Context) -> Alert:
    steps = Steps(5)
    workers = c.spec.parts.workers
    limit = c.spec.thresholds.memory_bytes * workers
    per = (
        f" ({workers} workers, {c.spec.thresholds.memory_bytes // 1048576} MiB each)"
        if workers > 1
        else ""
    )
    bad = limit + limit // 5
    return Alert(
        "HighMemory",
        f"process_resident_memory_bytes{{{c.job}}} > {limit}",
        c.clock.of("5m"),
        "warning",
        f"{c.spec.title} instance {{{{ $labels.instance }}}} uses {{{{ $value | humanize1024 }}}}B",
        "Resident memory of {{ $labels.instance }} has been above "
        f"{limit // 1048576} MiB{per} for 5 minutes (now {{{{ $value | humanize1024 }}}}B).",
        f"""**Means.** The instance's resident memory has stayed above {limit // 1048576} MiB{per}
for 5 minutes. With several workers the series is the server's sum (docs/workers.md).

**Check.** Growth over days is a leak; a step after a deploy is the new code. `curl -s
<instance>/monitoring/health | jq .checks.memory` shows the health checker's view.

**Fix.** Restart to buy time; find what grows (caches without a bound are the usual
suspect).""",
        c.proven(
            steps,
            "memory grows past the limit, then falls back",
            [
                (
                    selector("process_resident_memory_bytes", c.instance),
                    gauge(steps.phases(limit // 2, bad)),
                )
            ],
            c.instance,
            float(bad),
        ),
    )


# -- requests ----------------------------------------------------------------------------------


def high_error_rate(c: Context, runbook_extra: str = "") -> Alert:
    steps = Steps(5)
    th = c.spec.thresholds
    ratio = c.recorded.slo_ratio
    volume = max(6000, th.min_requests)
    bad = round(bad_ratio(th.error_ratio) * volume)
    what = "HTTP requests answered 5xx" if c.sli.http else "user-facing operations that failed"
    series = sli_inputs(
        c.sli, "availability", [(m, volume, b) for m, b in steps.counter_phases(0, bad)]
    )
    return Alert(
        "HighErrorRate",
        f"{ratio}{{{c.job}}} > {th.error_ratio:g}\n"
        f"  and on (job) {c.volume(c.recorded.slo_requests, th.min_requests)}",
        c.clock.of("5m"),
        "page",
        f"{c.spec.title} error rate is {{{{ $value | humanizePercentage }}}}",
        "{{ $value | humanizePercentage }} of the requests of job {{ $labels.job }} failed over "
        f"the last 5 minutes (threshold {th.error_ratio:.2%}, for 5 minutes, at least "
        f"{th.min_requests} requests).",
        f"""**Means.** Over 5 minutes more than {th.error_ratio:.2%} of the SLO's requests
({what}) failed, with at least {th.min_requests} requests in the window.

**Check.** Which routes or operations fail: the dashboard's per-route 5xx ratio and
per-operation error ratio; `curl -s <instance>/monitoring/metrics | jq` for the window
figures; the logs for the exceptions.

**Fix.** A recent deploy: roll it back. A dependency: see its own alert.{runbook_extra}""",
        c.proven(
            steps, "requests fail, then succeed again", series, {"job": c.spec.job}, bad / volume
        ),
    )


def slow_operations(c: Context) -> Alert:
    steps = Steps(10)
    th = c.spec.thresholds
    excluded = th.slow_operations_exclude
    selector_ = f'{c.job}, operation!~"{"|".join(excluded)}"' if excluded else c.job
    op = next(o for o in (*c.spec.slo.operations, "some_operation") if o not in excluded)
    labels = {**c.instance, "operation": op}
    n = 100_000
    healthy, slow = (
        round(th.slow_operation_seconds * n / 10),
        round(th.slow_operation_seconds * n * 5),
    )
    d = c.s.operation_duration
    skipped = f" ({', '.join(excluded)} excluded)" if excluded else ""
    return Alert(
        "SlowOperations",
        f"{c.recorded.mean_latency}{{{selector_}}} > {th.slow_operation_seconds:g}",
        c.clock.of("10m"),
        "warning",
        f"{c.spec.title} operation {{{{ $labels.operation }}}} averages "
        "{{ $value | humanizeDuration }}",
        "Operation {{ $labels.operation }} of job {{ $labels.job }} has averaged "
        "{{ $value | humanizeDuration }} over 5-minute windows for 10 minutes (threshold "
        f"{th.slow_operation_seconds * 1000:g}ms).",
        f"""**Means.** An operation's mean duration has been above
{th.slow_operation_seconds * 1000:g} ms for 10 minutes{skipped}.

**Check.** `curl -s '<instance>/monitoring/operation?name=<operation>' | jq` (percentiles,
min, max); what the operation waits on (database, an upstream).

**Fix.** The slow dependency first; then the operation's own work.""",
        c.proven(
            steps,
            "an operation slows down, then speeds up again",
            [
                (selector(f"{d}_sum", labels), counter(steps.counter_phases(healthy, slow))),
                (selector(f"{d}_count", labels), counter(steps.counter_phases(n, n))),
            ],
            {"job": c.spec.job, "operation": op},
            slow / n,
        ),
    )


def route_server_errors(c: Context) -> Alert:
    steps = Steps(5)
    th = c.spec.thresholds
    n = 600
    bad = round(bad_ratio(th.route_error_ratio) * n)
    route = c.spec.slo.routes[0] if c.spec.slo.routes else "/example"
    base = {**c.instance, "method": "GET", "route": route}
    r = c.recorded
    return Alert(
        "HttpRouteServerErrors",
        f"{r.route_5xx_ratio}{{{c.job}}} > {th.route_error_ratio:g}\n"
        f"  and on (job, route) {c.volume(r.route_requests, th.min_requests)}",
        c.clock.of("5m"),
        "page",
        f"{c.spec.title} route {{{{ $labels.route }}}} answers "
        "{{ $value | humanizePercentage }} 5xx",
        "{{ $value | humanizePercentage }} of the requests to {{ $labels.route }} (job "
        "{{ $labels.job }}) were answered 5xx over the last 5 minutes (threshold "
        f"{th.route_error_ratio:.0%}, at least {th.min_requests} requests).",
        f"""**Means.** One route answers more than {th.route_error_ratio:.0%} of its requests
with a 5xx status: a feature is broken for its users even when the service-wide ratio is
diluted by healthy routes.

**Check.** The route's handler in the logs; `{c.s.http_requests}{{route="<route>"}}` by
status.

**Fix.** Roll back the change that broke it, or fail the feature cleanly.""",
        c.proven(
            steps,
            "one route fails, then recovers",
            [
                (
                    selector(c.s.http_requests, {**base, "status": "200"}),
                    counter(steps.counter_phases(n, n - bad)),
                ),
                (
                    selector(c.s.http_requests, {**base, "status": "500"}),
                    counter(steps.counter_phases(0, bad)),
                ),
            ],
            {"job": c.spec.job, "route": route},
            bad / n,
        ),
    )
