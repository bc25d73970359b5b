"""The in-process job queue (jobs.py): backlog, and jobs by result."""

# ruff: noqa: E501 (the runbooks' commands are pasted whole during incidents: not wrapped)

from __future__ import annotations

from exporter.assets import Alert, Extension, Panel, Query, Row

from .common import RATE, panel_sel, sel, series
from .proofs import case

LIMIT = 100  # jobs: the spec's "job queue depth < 100"
DEPTH, CAPACITY = "aiexpense_job_queue_depth", "aiexpense_job_queue_capacity"


def _queue(instance: str, depth: str, capacity: str) -> dict[str, str]:
    return {
        series(DEPTH, instance=instance): depth,
        series(CAPACITY, instance=instance): capacity,
    }


BACKLOG = Alert(
    name="JobQueueBacklog",
    # a queue configured at or below 100 could never exceed 100: 90% of capacity counts too
    expr=f"{sel(DEPTH)} > {LIMIT}\nor {sel(DEPTH)} >= 0.9 * {sel(CAPACITY)}",
    for_="5m",
    severity="warning",
    summary="aiexpense job queue on {{ $labels.instance }} holds {{ $value | humanize }} jobs",
    description="The job queue of {{ $labels.instance }} has held {{ $value | humanize }} jobs "
    "for 5 minutes (threshold 100 jobs or 90% of capacity). Replies to chat messages are "
    "delayed, and once the queue is full new jobs are refused.",
    runbook="""**Means.** The in-process job queue has held more than 100 jobs (the spec's
limit), or 90% of its capacity, for 5 minutes. Replies to chat messages are late; once the
queue is full, new jobs are refused.

**Check.**

```bash
curl -s localhost:8080/monitoring/system | jq '.job_queue_depth'
promtool query instant http://localhost:9090 'aiexpense_job_queue_depth'
promtool query instant http://localhost:9090 'aiexpense_job_queue_capacity'
promtool query instant http://localhost:9090 'sum by (exported_job, result) (rate(aiexpense_jobs_total[5m]))'   # job kind = exported_job
promtool query instant http://localhost:9090 'job_operation:aiexpense_operation_duration_seconds:mean_rate5m{operation="send_reply"}'
```

**Fix.**
- Jobs failing (`result="error"`) or `send_reply` slow: a chat platform's API is slow or
  down, or its token expired. Check the platform's status page and the logs; rotate the
  token if it is rejected.
- Jobs succeeding but too slowly: more webhook traffic than the workers handle; add
  replicas or workers.
- Before restarting a pod with a full queue: shutdown drains the queue within a deadline
  and logs any job it drops by id; collect those ids from the logs.""",
    cases=(
        case(
            "JobQueueBacklog fires above 100 jobs and resolves; 80 of 100 stays quiet",
            {
                # capacity 1000: 10 jobs, then 150 (6m..15m), then 5
                **_queue("app-1:8080", "10x5 150x9 5x10", "1000x25"),
                # capacity 100, 80 queued: below both thresholds
                **_queue("app-3:8080", "80x25", "100x25"),
            },
            quiet=("5m", "9m"),
            firing=("12m",),
            resolved=("20m",),
            labels={"job": "aiexpense", "instance": "app-1:8080"},
            value=150,
        ),
        case(
            "JobQueueBacklog fires at 90% of a capacity of 100 and resolves",
            # 95 queued can never exceed 100, but the queue is 95% full
            _queue("app-2:8080", "10x5 95x9 5x10", "100x25"),
            quiet=("5m", "9m"),
            firing=("12m",),
            resolved=("20m",),
            labels={"job": "aiexpense", "instance": "app-2:8080"},
            value=95,
        ),
    ),
)

ROW = Row(
    "Job queue",
    (
        Panel(
            "Job queue depth",
            "Jobs waiting in each instance's queue, and its capacity. The dashed line is "
            "JobQueueBacklog's 100 jobs.",
            "short",
            (
                Query(panel_sel(DEPTH), "{{instance}} depth"),
                Query(panel_sel(CAPACITY), "{{instance}} capacity"),
            ),
            limit=LIMIT,
        ),
        Panel(
            "Jobs by result",
            "Jobs finished per second by kind and result. Errors here are usually a chat "
            "platform's API refusing or timing out a reply. (The service's job-kind label "
            "collides with the target's job, so Prometheus calls it exported_job.)",
            "ops",
            (
                Query(
                    "sum by (exported_job, result) "
                    f"(rate({panel_sel('aiexpense_jobs_total')}[{RATE}]))",
                    "{{exported_job}} {{result}}",
                ),
            ),
        ),
    ),
)

QUEUE = Extension(
    name="jobs",
    alerts=(BACKLOG,),
    rows=(ROW,),
    series=(DEPTH, CAPACITY, "aiexpense_jobs_total"),
)
