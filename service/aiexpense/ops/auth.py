"""Refused credentials (http/auth.py): a spike is an attack or a broken client."""

# ruff: noqa: E501 (the runbooks' commands are pasted whole during incidents: not wrapped)

from __future__ import annotations

from exporter.assets import Alert, Extension, Panel, Query, Row

from .common import RATE, panel_sel, sel, series
from .proofs import case

REFUSALS = "aiexpense_auth_refusals_total"
LIMIT = 5  # refusals a second, per reason, over 5 minutes: far above a person's typo
# `missing` is a request without a credential (a browser, a health checker): not a token
# anyone tried, so it does not count towards the spike.
TRIED = 'reason!="missing"'

SPIKE = Alert(
    name="AuthRefusalsSpike",
    expr=f"sum by (job, reason) (rate({sel(REFUSALS, TRIED)}[5m])) > {LIMIT}",
    for_="10m",
    severity="warning",
    summary="aiexpense refuses {{ $value | humanize }} {{ $labels.reason }} credentials a second",
    description="For 10 minutes the API has refused {{ $value | humanize }} credentials a "
    "second for reason {{ $labels.reason }} (threshold 5/s). Someone is guessing tokens, or "
    "a client kept a token that was rotated.",
    runbook="""**Means.** The API refuses more than 5 bearer credentials a second for one
reason, for 10 minutes. `malformed` and `unknown` cost the service no database read;
`wrong_secret` costs at most one read a second per person. A spike is someone guessing
tokens, or a client (a script, an integration) still sending a token that was rotated.

**Check.**

```bash
promtool query instant http://localhost:9090 'sum by (reason) (rate(aiexpense_auth_refusals_total[5m]))'
kubectl -n aiexpense logs deploy/aiexpense --since=15m | grep '" 401 ' | awk '{print $1}' | sort | uniq -c | sort -rn | head
```

**Fix.**
- One source address sending `unknown` or `malformed`: block it at the ingress; the
  service already refuses it without touching the database.
- `wrong_secret` for a few person ids: that person's client holds an old token. Ask them
  to use the newest one, or rotate again (`POST /api/users/{id}/tokens`).
- Every reason at once after a deploy: check `EXPORTER_ADMIN_TOKEN` in the secret.""",
    cases=(
        case(
            "AuthRefusalsSpike fires on 10 unknown tokens a second and resolves; "
            "missing credentials never count",
            {
                # +600 a minute = 10/s from 5m to 25m, then nothing new
                series(REFUSALS, reason="unknown"): "0x5 0+600x20 12000x15",
                series(REFUSALS, reason="missing"): "0+6000x40",
            },
            quiet=("4m", "10m"),
            firing=("22m",),
            resolved=("35m",),
            labels={"job": "aiexpense", "reason": "unknown"},
            value=10,
        ),
    ),
)

ROW = Row(
    "Credentials",
    (
        Panel(
            "Refused credentials by reason",
            "Bearer credentials the API refused a second: missing, malformed, unknown (an id "
            "that holds no token), wrong_secret, forbidden. The dashed line is "
            "AuthRefusalsSpike's 5 a second.",
            "reqps",
            (
                Query(
                    f"sum by (reason) (rate({panel_sel(REFUSALS)}[{RATE}]))",
                    "{{reason}}",
                ),
            ),
            limit=LIMIT,
        ),
    ),
)

AUTH = Extension(name="auth", alerts=(SPIKE,), rows=(ROW,), series=(REFUSALS,))
