"""Chat replies through the PostgreSQL outbox (store/outbox.py), shared by every replica:
the backlog (the same database-wide figure from each replica, hence max) and failures."""

from __future__ import annotations

from exporter.assets import Alert, Extension, Panel, Query, Row

from .common import RATE, panel_sel, sel, series
from .proofs import case, stays_quiet

DUE, TOTAL = "aiexpense_reply_outbox_due", "aiexpense_replies_total"
FAILED = 'outcome="failed"'
ENDED = 'outcome=~"delivered|failed"'


def _ended(delivered: str, failed: str) -> dict[str, str]:
    return {
        series(TOTAL, outcome="delivered"): delivered,
        series(TOTAL, outcome="failed"): failed,
    }


BACKLOG = Alert(
    name="ReplyBacklog",
    expr=f"max by (job) ({sel(DUE)}) > 100",
    for_="5m",
    severity="warning",
    summary="aiexpense has {{ $value | humanize }} chat replies waiting to be sent",
    description="{{ $value | humanize }} replies of job {{ $labels.job }} have been due in the "
    "reply outbox for 5 minutes (threshold 100). People are waiting for answers to their "
    "messages.",
    runbook="""**Means.** More than 100 chat replies have been due in the reply outbox
(PostgreSQL table `reply_outbox`, shared by every replica; see `docs/replicas.md`) for 5
minutes. People wait for answers. Nothing is lost: the rows stay until delivered or failed.

**Check.**

```bash
promtool query instant http://localhost:9090 'max(aiexpense_reply_outbox_due)'
promtool query instant http://localhost:9090 'sum by (outcome) (rate(aiexpense_replies_total[5m]))'
promtool query instant http://localhost:9090 'sum by (instance) (aiexpense_replies_in_progress)'
psql "$DATABASE_URL" -c "SELECT platform, attempts, last_error, count(*) FROM reply_outbox
  WHERE state = 'queued' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 20"
```

**Fix.**
- `outcome="retry"` high and `last_error` says HTTP 429: the platform is rate-limiting us;
  the workers already wait its `Retry-After`. Lower the reply rate or ask for more quota.
- `last_error` HTTP 5xx or timeouts: the platform is down; the rows wait and are retried
  (`EXPORTER_REPLY_MAX_ATTEMPTS`), then fail.
- No errors, just volume: raise `EXPORTER_REPLY_WORKERS` or the replica count.""",
    cases=(
        case(
            "ReplyBacklog fires once per job on 150 due replies, not on 80, and resolves",
            {
                series(DUE): "80x5 150x9 5x10",
                series(DUE, instance="app-2:8080"): "80x5 150x9 5x10",
            },
            quiet=("5m", "9m"),
            firing=("12m",),
            resolved=("20m",),
            labels={"job": "aiexpense"},
            value=150,
        ),
    ),
)


def _ended_rate() -> str:
    return f"sum by (job) (rate({sel(TOTAL, ENDED)}[15m]))"


FAILING = Alert(
    name="RepliesFailing",
    # a reply ends delivered or failed; at least 20 ended in the 15 minutes
    expr=f"sum by (job) (rate({sel(TOTAL, FAILED)}[15m]))\n  / {_ended_rate()}\n  > 0.05\n"
    f"and on (job) {_ended_rate()} * 900 >= 20",
    for_="5m",
    severity="warning",
    summary="aiexpense replies failing ({{ $value | humanizePercentage }})",
    description="{{ $value | humanizePercentage }} of the chat replies of job {{ $labels.job }} "
    "that ended in the last 15 minutes failed for good (threshold 5%, at least 20 replies).",
    runbook="""**Means.** More than 5% of the replies that ended in 15 minutes ended
`failed` (a 4xx other than 429, `{"ok": false}`, or every attempt used up), with at least 20
ended.

**Check.**

```bash
psql "$DATABASE_URL" -c "SELECT platform, last_error, count(*) FROM reply_outbox
  WHERE state = 'failed' AND finished_at > now() - interval '1 hour' GROUP BY 1, 2 ORDER BY 3 DESC"
```

**Fix.** HTTP 401/403: a token expired or was revoked: rotate it (the secret, not the
table: rows hold `${placeholders}`, so queued replies use the new token). HTTP 400 on LINE:
reply tokens expire about a minute after the message; a long outage makes those replies
unsendable (expected). To resend failed rows after fixing the cause:
`UPDATE reply_outbox SET state = 'queued', attempts = 0, run_after = now(), finished_at = NULL
WHERE state = 'failed' AND finished_at > now() - interval '1 hour';`""",
    cases=(
        case(
            "RepliesFailing fires at 20% failed replies and resolves",
            _ended("0+8x30 240+10x30", "0+2x30 60x30"),
            quiet=("4m",),  # pending: not yet 5 minutes
            firing=("25m",),
            resolved=("58m",),
            labels={"job": "aiexpense"},
            value=0.2,
        ),
    ),
)

TRICKLE = stays_quiet(
    "RepliesFailing stays quiet on one failure in a trickle of replies",
    "RepliesFailing",
    _ended(
        "0 0 0 0 0 1 1 1 1 1 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2",
        "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    ),
    ("25m",),
)

ROW = Row(
    "Replies",
    (
        Panel(
            "Replies by outcome",
            "Chat replies per second by outcome, over all replicas: delivered and failed end "
            "a reply; retry is an attempt to repeat (429/5xx, after Retry-After); reclaimed "
            "is a reply taken over from a dead replica (a possible duplicate).",
            "ops",
            (
                Query(
                    f"sum by (outcome) (rate({panel_sel(TOTAL)}[{RATE}]))",
                    "{{outcome}}",
                ),
            ),
        ),
        Panel(
            "Replies due in the outbox",
            "Replies waiting in the shared PostgreSQL outbox (every replica reports the same "
            "figure: max, not sum). ReplyBacklog fires above 100 for 5 minutes.",
            "short",
            (Query(f"max({panel_sel(DUE)})", "due"),),
            limit=100,
        ),
    ),
)

REPLIES = Extension(
    name="replies",
    alerts=(BACKLOG, FAILING),
    rule_tests=(TRICKLE,),
    rows=(ROW,),
    series=(DUE, TOTAL),
)
