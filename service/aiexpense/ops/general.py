"""The runbooks' service-specific text: where things are (the local stack, a cluster), and
this service's advice on the kit's alerts (which operations, which settings, which tables)."""

# ruff: noqa: E501 (the runbooks' commands are pasted whole during incidents: not wrapped)

from __future__ import annotations

from exporter.assets import Extension, RunbookSection

WHERE = RunbookSection(
    "Where things are",
    """Alertmanager routes `page` to `pager` and `warning`/`ticket` to `tickets`
(`deploy/alertmanager/alertmanager.yml`). A page for an alert name mutes the warnings and
tickets with the same name (the slow ErrorBudgetBurn ticket while the fast one pages), and
DatabaseDown mutes ServiceUnhealthy for the same instance.

The commands in this file assume the local stack (`docker compose up`, see `docs/stack.md`):
the service on `localhost:8080`, Prometheus on `localhost:9090`, Alertmanager on
`localhost:9093`. Against a cluster, port-forward first:

```bash
kubectl port-forward deploy/aiexpense 8080:8080 &
kubectl port-forward svc/prometheus 9090:9090 &
```

What the service says about itself (no Prometheus needed):

```bash
curl -s localhost:8080/monitoring/health | jq .              # status, database, memory, checks
curl -s localhost:8080/monitoring/system | jq .              # totals, error_rate (%), latency
curl -s localhost:8080/monitoring/metrics | jq .             # every operation
curl -s 'localhost:8080/monitoring/operation?name=create_expense' | jq .
curl -s -o /dev/null -w '%{http_code}\\n' localhost:8080/monitoring/ready   # 200 or 503
curl -s -o /dev/null -w '%{http_code}\\n' localhost:8080/monitoring/live    # 200 unless wedged
curl -s localhost:8080/metrics | grep -v '^#' | grep aiexpense_db_   # raw Prometheus series
```

`error_rate` in the JSON endpoints is a percentage over the process lifetime (and since the
last `POST /monitoring/reset`); the alerts use 5-minute windows. When they disagree, trust
the window: a lifetime rate hides a fresh outage behind hours of good traffic. The
`window` object of `/monitoring/metrics` holds the 1m and 5m figures per operation.

```bash
promtool query instant http://localhost:9090 'job:aiexpense_slo_errors:ratio_rate5m'
promtool query instant http://localhost:9090 'sort_desc(job_operation:aiexpense_operation_errors:ratio_rate5m > 0)'
```

Recent deploys are the first suspect for anything that starts suddenly:
`kubectl rollout history deployment/aiexpense`, and `docs/deployment.md` for the rollback.""",
)

NOTES = {
    "TargetDown": """**Here.** A wedged instance also fails its liveness probe
(`/monitoring/live` answers 503 when the event-loop heartbeat is older than 10 s), so
Kubernetes should already be restarting it.

```bash
kubectl get pods -l app.kubernetes.io/name=aiexpense           # restarts? CrashLoopBackOff?
kubectl describe pod <pod> | sed -n '/Last State/,/Ready/p'     # OOMKilled? exit code?
kubectl logs <pod> --previous | tail -50
```

Crash loop after a deploy: roll back (`kubectl rollout undo deployment/aiexpense`).
OOMKilled: see [HighMemory](#highmemory). Running but not answering: take a thread dump
(`py-spy dump --pid 1` in the container), then delete the pod.""",
    "TargetAbsent": """**Here.** Locally: `job_name: aiexpense` in
`deploy/prometheus/prometheus.yml` (the rules filter on it); `promtool check config`, then
reload Prometheus. In a cluster: `kubectl get deploy,svc,endpoints -l
app.kubernetes.io/name=aiexpense`; a deployment scaled to 0 is restored with
`kubectl scale deployment/aiexpense --replicas=2`.""",
    "ServiceUnhealthy": """**Here.** The checks: `database` (ping failed twice in a row),
`error_rate` (5-minute rate above 5%), `memory` (500MB or 90% of the container limit),
`sampler`, and the service's `migrations` (the schema is not at the version this build
needs: run the migrate job, `docs/deployment.md`).

```bash
curl -s -H 'Accept: application/health+json' localhost:8080/monitoring/health | jq .checks
```""",
    "DatabaseDown": """**Here.**

```bash
pg_isready -h <db-host> -p 5432                                  # from the app's network
psql "$DATABASE_URL" -c 'select 1'                               # credentials still valid?
docker compose ps postgres && docker compose logs --tail=50 postgres   # local stack
```

All instances: check disk space on the data volume and `max_connections`
(`select count(*) from pg_stat_activity`). Credentials rotated: update the `DATABASE_URL`
secret (`aiexpense-db`) and roll the deployment. Liveness ignores the database on purpose:
restarting pods does not bring it back.""",
    "HighErrorRate": """**Here.** The SLO's requests are the six webhooks and the JSON
API's operations (`service/monitoring.toml`).
- Errors in `db_*` too: the database; see [DatabaseDown](#databasedown).
- Errors concentrated in one `webhook_*_message`: a signature failure counts as an error of
  that webhook. Look for 401s in the logs: a rotated platform secret, or unsigned requests.
- Started with a deploy: roll back (`docs/deployment.md`, "Rollback").""",
    "SlowOperations": """**Here.** `send_reply` (a chat platform's API, on the job queue) is
left out. `db_*` slow as well: look at `pg_stat_activity` for long queries and locks. Only
reads slow (`get_expenses*`) and the hit rate fell: [CacheHitRateLow](#cachehitratelow).
`parse_conversation` / `suggest_category` slow: CPU bound; compare
`rate(process_cpu_seconds_total{job="aiexpense"}[5m])` with the CPU limit.""",
    "HttpRouteServerErrors": """**Here.** A 503 is the service's own "database or dependency
unavailable"; a 500 an exception that escaped an endpoint (the logs say
`unhandled error on <method> <path>` with the traceback). Requests with a `traceparent`
header leave exemplars on the duration histogram: turn on "Exemplars" on the dashboard's
p99 panel to jump to a trace.""",
    "HighMemory": """**Here.** The health checker calls the instance unhealthy at the same
size, so expect [ServiceUnhealthy](#serviceunhealthy) next. Cache entries at their maxima
(`aiexpense_cache_entries`): lower the cache sizes or TTLs. A full job queue holds payloads:
[JobQueueBacklog](#jobqueuebacklog).""",
    "DatabasePoolRequestsWaiting": """**Here.** Raise the pool maximum (its environment
variable, see the README) only once queries are fast again, keeping replicas x pool
maximum below PostgreSQL's `max_connections`.""",
    "DatabasePoolSaturated": """**Here.** As
[DatabasePoolRequestsWaiting](#databasepoolrequestswaiting): shorten what holds
connections, then size the pool or the replica count for the load.""",
    "ErrorBudgetBurn": """**Here.** The objective is `[slo.availability]` in
`service/monitoring.toml` (then `make assets`). A page: treat as HighErrorRate. A ticket:
find the steady error source (one webhook rejecting signatures, one operation failing on
some input); if the budget is nearly gone, freeze risky deploys until it recovers.""",
}

GENERAL = Extension(name="runbooks", runbooks=(WHERE,), notes=NOTES)
