"""The in-process caches (store/cache.py), kept true across replicas by LISTEN/NOTIFY
(store/invalidation.py): hit rate per cache, the listener, invalidations."""

# ruff: noqa: E501 (the runbooks' commands are pasted whole during incidents: not wrapped)

from __future__ import annotations

from exporter.assets import Alert, Extension, Panel, Query, RecordingRule, Row

from .common import RATE, panel_sel, sel, series
from .proofs import case

HIT_FLOOR = 0.7
HIT = 'result="hit"'
LOOKUPS = "job_cache:aiexpense_cache_requests:rate5m"
HIT_RATIO = "job_cache:aiexpense_cache_hits:ratio_rate5m"

RECORDING = (
    RecordingRule(
        LOOKUPS, f"sum by (job, cache) (rate({sel('aiexpense_cache_requests_total')}[5m]))"
    ),
    RecordingRule(
        HIT_RATIO,
        "sum by (job, cache) "
        f"(rate({sel('aiexpense_cache_requests_total', HIT)}[5m]))\n"
        f"  / ({LOOKUPS} > 0)",
    ),
)


def _lookups(cache: str, hits: str, misses: str) -> dict[str, str]:
    name = "aiexpense_cache_requests_total"
    return {
        series(name, cache=cache, result="hit"): hits,
        series(name, cache=cache, result="miss"): misses,
    }


HIT_RATE_LOW = Alert(
    name="CacheHitRateLow",
    # a cold cache after a deploy or a quiet night is not a problem: 100 lookups per 5 min
    expr=f"{HIT_RATIO} < {HIT_FLOOR}\nand on (job, cache) {LOOKUPS} * 300 >= 100",
    for_="15m",
    severity="warning",
    summary="aiexpense {{ $labels.cache }} cache hit rate is {{ $value | humanizePercentage }}",
    description="The {{ $labels.cache }} cache of job {{ $labels.job }} has answered only "
    "{{ $value | humanizePercentage }} of lookups from memory over 5-minute windows for "
    "15 minutes (threshold 70%).",
    runbook="""**Means.** A cache (users, categories or expenses) has answered less than 70%
of lookups from memory over 5-minute windows for 15 minutes, with at least 100 lookups in
the window. Reads go to PostgreSQL instead: slower operations and more database load.

**Check.**

```bash
promtool query instant http://localhost:9090 'job_cache:aiexpense_cache_hits:ratio_rate5m'
promtool query instant http://localhost:9090 'aiexpense_cache_entries'
promtool query instant http://localhost:9090 'sum by (cache, result) (rate(aiexpense_cache_requests_total[5m]))'
curl -s localhost:8080/monitoring/system | jq '.cache_hit_rate'
```

**Fix.**
- Entries at the cache's maximum: the working set outgrew it; raise the size.
- Entries low, misses high: TTL too short, or frequent restarts emptying the caches.
- The expenses cache after a write-heavy period: writes invalidate it on purpose (reads
  never show stale data); a lower rate during bulk imports is expected.
- Every cache near 0% on one replica: its invalidation listener is down
  ([CacheListenerDown](#cachelistenerdown)).""",
    cases=(
        case(
            "CacheHitRateLow fires at a 50% hit rate for 15 minutes and resolves",
            {
                # expenses: 30 hits and 30 misses a minute until 20m, then only hits
                **_lookups("expenses", "0+30x40", "0+30x20 600x20"),
                # users: 80% hits
                **_lookups("users", "0+80x40", "0+20x40"),
                # categories: 10% hits but 30 lookups per 5 minutes (< 100)
                **_lookups("categories", "0+0.6x40", "0+5.4x40"),
            },
            quiet=("10m",),
            firing=("18m",),
            resolved=("30m",),
            labels={"job": "aiexpense", "cache": "expenses"},
            value=0.5,
        ),
    ),
)

LISTENER_DOWN = Alert(
    name="CacheListenerDown",
    # reconnecting takes seconds; 5 minutes without LISTEN is a real problem
    expr=f"{sel('aiexpense_cache_listener_up')} == 0",
    for_="5m",
    severity="warning",
    summary="aiexpense instance {{ $labels.instance }} cannot hear cache invalidations",
    description="{{ $labels.instance }} has had no LISTEN connection to PostgreSQL for "
    "5 minutes (aiexpense_cache_listener_up = {{ $value | humanize }}): its caches are off "
    "and every read goes to the database.",
    runbook="""**Means.** A replica has had no `LISTEN` connection to PostgreSQL for 5
minutes. It cannot hear other replicas' writes, so it caches nothing: answers stay correct,
but every read goes to the database.

**Check.** The replica's log (`cache listener lost its connection: ...`);
`aiexpense_cache_listener_reconnects_total`; whether the database refuses connections
(`max_connections`, `pg_hba.conf`) or a proxy in between drops idle ones (PgBouncer in
transaction mode does not support `LISTEN`: the listener needs a direct or session-mode
connection).

**Fix.** Restore the connection path; the listener reconnects by itself (backoff up to
5 s) and empties the caches when it does.""",
    cases=(
        case(
            "CacheListenerDown fires after 5 minutes without LISTEN, not on a blip, resolves",
            {
                series("aiexpense_cache_listener_up"): "1x3 0x2 1x5 0x10 1x10",
                series("aiexpense_cache_listener_up", instance="app-2:8080"): "1x31",
            },
            quiet=("6m",),
            firing=("18m",),
            resolved=("28m",),
            labels={"job": "aiexpense", "instance": "app-1:8080"},
            value=0,
        ),
    ),
)

ROW = Row(
    "Caches",
    (
        Panel(
            "Cache hit rate",
            "Share of lookups each cache answered from memory. The dashed line is "
            "CacheHitRateLow's 70% (which also needs 100 lookups per 5 minutes).",
            "percentunit",
            (
                Query(
                    "sum by (cache) "
                    f"(rate({panel_sel('aiexpense_cache_requests_total', HIT)}"
                    f"[{RATE}]))\n  / (sum by (cache) "
                    f"(rate({panel_sel('aiexpense_cache_requests_total')}[{RATE}])) > 0)",
                    "{{cache}}",
                ),
            ),
            limit=HIT_FLOOR,
        ),
        Panel(
            "Cache entries",
            "Entries held by each LRU cache (summed over instances).",
            "short",
            (Query(f"sum by (cache) ({panel_sel('aiexpense_cache_entries')})", "{{cache}}"),),
        ),
        Panel(
            "Cache invalidations by source",
            "Keys dropped per second: local (this replica's writes), notify (writes announced "
            "by PostgreSQL, from any replica), resync (whole caches emptied after a listener "
            "reconnected).",
            "ops",
            (
                Query(
                    "sum by (cache, source) "
                    f"(rate({panel_sel('aiexpense_cache_invalidations_total')}[{RATE}]))",
                    "{{cache}} {{source}}",
                ),
            ),
        ),
        Panel(
            "Invalidation listener",
            "Whether each instance holds its LISTEN connection to PostgreSQL. "
            "CacheListenerDown fires after 5 minutes without it.",
            "none",
            (Query(panel_sel("aiexpense_cache_listener_up"), "{{instance}}"),),
            "state",
            mappings={"1": ("listening", "green"), "0": ("deaf", "red")},
        ),
    ),
)

CACHES = Extension(
    name="cache",
    recording=RECORDING,
    alerts=(HIT_RATE_LOW, LISTENER_DOWN),
    rows=(ROW,),
    series=(
        "aiexpense_cache_requests_total",
        "aiexpense_cache_entries",
        "aiexpense_cache_invalidations_total",
        "aiexpense_cache_listener_up",
    ),
)
