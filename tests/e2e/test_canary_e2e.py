"""The canary rules (aiexpense.ops.canary, generated into alerts/) against real parts: two
``exporter serve`` replicas on one PostgreSQL, a "stable" and a "canary" one, and Debian's
Prometheus scraping both with the ``track`` label the ServiceMonitor gives real pods.

The canary fails for a real reason: it connects as a PostgreSQL role that may do everything
the stable one does except INSERT into ``expenses`` (a grant forgotten in a rollout), and a
tenth of the requests both tracks get create expenses. Its creates fail as database errors,
counted in ``aiexpense_operation_errors_total{operation="create_expense"}``; every other
request succeeds. Then:

- below the rules' traffic guard (100 requests per track in the window) CanaryWorse stays
  quiet although the canary's error ratio is far above stable's;
- with enough traffic CanaryWorse (signal error_ratio) fires;
- once the role is granted INSERT (the full role), a fresh Prometheus sees both tracks with
  the same traffic and the same (zero) error ratio, and CanaryWorse stays quiet.

"Quiet" is measured, not slept on: the rule has been evaluated for longer than its (shortened)
``for`` after the comparison had its inputs, and ``ALERTS`` never held it, pending or firing.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import httpx
import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.e2e.test_replicas_e2e import Replica, replicas  # noqa: F401 (replicas: fixture)
from tests.service.helpers import bearer, sign_up
from tests.support import (
    JOB,
    RECORDING_RULES,
    SCRAPE,
    Prometheus,
    prometheus_process,
    render_alerting_rules,
    wait_until,
)

pytestmark = pytest.mark.slow

FOR_SECONDS = 3  # CanaryWorse's "for: 10m": a test cannot wait ten minutes
WINDOW = 300  # seconds: the rules' [5m]; the guard is requests:rate5m * 300 >= 100
GUARD = 100
PEOPLE = 4  # per track, each sending its rounds one request after another

ALERT = 'ALERTS{alertname="CanaryWorse", signal="error_ratio"}'
RATIO = "job_track:aiexpense_request_errors:ratio_rate5m"
REQUESTS = "job_track:aiexpense_requests:rate5m"
# The error-ratio alert's comparison without its traffic guard.
UNGUARDED = (
    f'({RATIO}{{track="canary"}} - on (job) {RATIO}{{track="stable"}})'
    " > on () group_left () aiexpense:slo_availability_error_budget:ratio"
)


# -- the canary's PostgreSQL role ------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    name: str
    url: str  # the test database, as this role


@pytest.fixture
def canary_role(database) -> Iterator[Role]:
    """A login role of its own (roles are the server's, not the database's), dropped at the
    end with what it was granted. Request it before ``replicas``: the replicas using it stop
    first."""
    name, password = f"canary_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
    params = conninfo_to_dict(database.url) | {"user": name, "password": password}
    try:
        yield Role(name, make_conninfo(**params))
    finally:
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def grant(database_url: str, role: Role, *, insert_expenses: bool) -> None:
    """Everything on the migrated schema (start-up also upserts reference data and checks
    ``schema_migrations``), then INSERT on ``expenses`` taken away unless ``insert_expenses``.
    PostgreSQL checks privileges per statement: a running replica sees the change at once."""
    role_id = sql.Identifier(role.name)
    statements = [
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}"),
        sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA public TO {}"),
        sql.SQL("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {}"),
        sql.SQL("GRANT INSERT ON expenses TO {}")
        if insert_expenses
        else sql.SQL("REVOKE INSERT ON expenses FROM {}"),
    ]
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.format(role_id))


# -- traffic -----------------------------------------------------------------------------------

# One round per person: ten requests of the operations the canary rules compare, one of them a
# create (about 10%: the canary's share of failures while it may not insert).
MAY = "from=2024-05-01&to=2024-05-31"
ROUND = (
    ("create expense", "POST", "/api/expenses"),
    *[("list expenses", "GET", "/api/expenses?user_id={uid}&limit=20")] * 3,
    *[("list expenses by date", "GET", f"/api/expenses?user_id={{uid}}&{MAY}")] * 2,
    *[("summary", "GET", f"/api/users/{{uid}}/summary?{MAY}")] * 2,
    *[("get category", "GET", "/api/categories/food")] * 2,
)


async def drive_rounds(base: str, people: list[tuple[int, str]], rounds: int) -> Counter:
    """``rounds`` of ``ROUND`` per person (user id, API token), the people concurrently;
    the answers as a Counter of (kind, status)."""
    statuses: Counter[tuple[str, int]] = Counter()
    expense = {"amount": "12.50", "category": "food", "description": "lunch",
               "spent_on": "2024-05-01"}  # fmt: skip

    # A connection per request: after an unhandled error's 500 uvicorn closes the connection
    # (exporter/errors.py), and a pooled one could be reused just as it closes.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(base, connector=connector) as http:

        async def person(uid: int, token: str) -> None:
            for _ in range(rounds):
                for kind, method, path in ROUND:
                    body = {"json": {"user_id": uid, **expense}} if method == "POST" else {}
                    async with http.request(
                        method, path.format(uid=uid), headers=bearer(token), **body
                    ) as response:
                        await response.read()
                        statuses[(kind, response.status)] += 1

        await asyncio.gather(*(person(uid, token) for uid, token in people))
    return statuses


def drive_both(tracks: dict[str, tuple[Replica, list]], rounds: int) -> dict[str, Counter]:
    """The same traffic on every track at once."""

    async def both() -> list[Counter]:
        return await asyncio.gather(
            *(drive_rounds(r.url, people, rounds) for r, people in tracks.values())
        )

    return dict(zip(tracks, asyncio.run(both()), strict=True))


def failed(statuses: Counter) -> Counter:
    """The answers that were not a success, by kind (a server error each, if any)."""
    assert all(status < 300 or status >= 500 for _, status in statuses), statuses
    return Counter({kind: n for (kind, status), n in statuses.items() if status >= 300})


# -- Prometheus --------------------------------------------------------------------------------


def by_track(prometheus: Prometheus, expr: str) -> dict[str, float]:
    return {s["metric"]["track"]: float(s["value"][1]) for s in prometheus.query(expr)}


def firing_error_ratio(prometheus: Prometheus) -> list[dict]:
    return [a for a in prometheus.firing("CanaryWorse") if a["labels"]["signal"] == "error_ratio"]


def evaluated_at(prometheus: Prometheus, group: str) -> float:
    """When Prometheus last evaluated rule group ``group`` (epoch seconds)."""
    (found,) = [g for g in prometheus.api("rules")["groups"] if g["name"] == group]
    return datetime.fromisoformat(found["lastEvaluation"]).timestamp()


def quiet_through_for(prometheus: Prometheus, since: float, ready: str) -> None:
    """Wait until ``ready`` (a query) has held and the alert has been evaluated for longer
    than its ``for`` after that; assert ``ALERTS`` never held CanaryWorse (error_ratio),
    pending or firing, from ``since`` until then."""
    wait_until(lambda: prometheus.query(ready), timeout=20, interval=0.2)
    held = time.time()
    # an alert true from the next evaluation on would be pending then, firing "for" later
    wait_until(
        lambda: evaluated_at(prometheus, "aiexpense.canary") > held + FOR_SECONDS + 2 * SCRAPE,
        timeout=20,
        interval=0.2,
    )
    until = evaluated_at(prometheus, "aiexpense.canary")
    (series,) = prometheus.query_range(ready, held, until)
    assert len(series["values"]) == int((until - held) // SCRAPE) + 1, "it did not hold throughout"
    alerts = prometheus.query_range(ALERT, since, until)
    assert not alerts, alerts


@contextlib.contextmanager
def watching(tmp_path, name: str, stable: Replica, canary: Replica) -> Iterator[Prometheus]:
    """A fresh Prometheus (its own, empty TSDB) scraping both tracks, as the ServiceMonitor
    labels them, with the recording and alerting rules, CanaryWorse's ``for`` shortened."""
    rules = render_alerting_rules(tmp_path, {"CanaryWorse": f"{FOR_SECONDS}s"})
    with prometheus_process(
        tmp_path / name,
        [stable.url, canary.url],
        [rules],
        target_labels=[{"track": "stable"}, {"track": "canary"}],
    ) as prometheus:
        yield prometheus


def sli_operations() -> re.Pattern[str]:
    """The operations the canary rules compare (the ``operation=~`` regex of the per-track
    recording rules)."""
    groups = yaml.safe_load(RECORDING_RULES.read_text())["groups"]
    (regex,) = {
        m
        for g in groups
        for r in g["rules"]
        if r["record"].startswith("job_track")
        for m in re.findall(r'operation=~"([^"]+)"', r["expr"])
    }
    return re.compile(regex)


def sli_errors(replica: Replica) -> dict[str, float]:
    """The compared operations with errors on ``replica``'s /metrics, and how many."""
    compared, found = sli_operations(), {}
    for line in httpx.get(f"{replica.url}/metrics", timeout=5).text.splitlines():
        m = re.match(r'aiexpense_operation_errors_total\{.*operation="([^"]+)".*\} (\S+)$', line)
        if m and compared.fullmatch(m[1]) and float(m[2]) > 0:
            found[m[1]] = float(m[2])
    return found


# -- the test ----------------------------------------------------------------------------------


def test_canary_worse_fires_on_a_failing_canary_not_on_a_sound_one(
    canary_role,
    replicas,  # noqa: F811 (the fixture)
    database,
    tmp_path,
):
    stable = replicas("stable")  # migrates the schema the role is then granted on
    grant(database.url, canary_role, insert_expenses=False)
    canary = replicas("canary", DATABASE_URL=canary_role.url)
    with httpx.Client(base_url=stable.url, timeout=10) as client:
        people = {
            track: [(u["id"], u["token"]) for u, _ in
                    (sign_up(client, f"{track}-{n}") for n in range(PEOPLE))]
            for track in ("stable", "canary")
        }  # fmt: skip
    tracks = {"stable": (stable, people["stable"]), "canary": (canary, people["canary"])}

    # -- 1. the canary may not insert: quiet below the guard, firing above it ---------------
    with watching(tmp_path, "prometheus-1", stable, canary) as prometheus:
        began = time.time()
        low = drive_both(tracks, rounds=1)  # 4 people x 10 = 40 requests a track
        assert not failed(low["stable"]), low["stable"]
        assert failed(low["canary"]) == {"create expense": PEOPLE}, low["canary"]
        # the canary's ratio is far over stable's, but neither track has 100 requests
        quiet_through_for(
            prometheus,
            began,
            f'{UNGUARDED} and on (job) {REQUESTS}{{track="canary"}} * {WINDOW} < {GUARD}'
            f' and on (job) {REQUESTS}{{track="stable"}} * {WINDOW} > 0',
        )
        requests = by_track(prometheus, f"{REQUESTS} * {WINDOW}")
        assert set(requests) == {"stable", "canary"}, requests
        assert all(20 < n < GUARD for n in requests.values()), requests

        more = drive_both(tracks, rounds=4)  # 160 more a track: over the guard
        assert not failed(more["stable"]), more["stable"]
        assert failed(more["canary"]) == {"create expense": 4 * PEOPLE}, more["canary"]
        (alert,) = wait_until(lambda: firing_error_ratio(prometheus), timeout=30, interval=0.2)
        assert (alert["labels"]["job"], alert["labels"]["severity"]) == (JOB, "page")
        assert "more requests than stable" in alert["annotations"]["summary"]
        ratios = by_track(prometheus, RATIO)
        assert ratios["stable"] == 0 and 0.05 < ratios["canary"] < 0.15, ratios
        assert all(n >= GUARD for n in by_track(prometheus, f"{REQUESTS} * {WINDOW}").values())

    # the failures are the canary's database errors on create_expense, and nothing else's
    failed_creates = 5 * PEOPLE  # as the client saw them: one a round and person
    assert sli_errors(canary) == {"create_expense": failed_creates}
    assert sli_errors(stable) == {}
    assert "permission denied for table expenses" in canary.log.read_text()

    # -- 2. the full role: the same traffic on both tracks, quiet ----------------------------
    grant(database.url, canary_role, insert_expenses=True)
    with watching(tmp_path, "prometheus-2", stable, canary) as prometheus:
        began = time.time()
        same = drive_both(tracks, rounds=5)  # 200 requests a track, over the guard
        assert not failed(same["stable"]) and not failed(same["canary"]), same
        quiet_through_for(
            prometheus,
            began,
            f'{RATIO}{{track="canary"}} == 0 and on (job) {RATIO}{{track="stable"}} == 0'
            f' and on (job) {REQUESTS}{{track="canary"}} * {WINDOW} >= {GUARD}'
            f' and on (job) {REQUESTS}{{track="stable"}} * {WINDOW} >= {GUARD}',
        )
        assert not firing_error_ratio(prometheus)
    assert sli_errors(canary) == {"create_expense": failed_creates}  # no new ones
    assert sli_errors(stable) == {}
