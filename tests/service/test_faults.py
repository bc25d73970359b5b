"""Database faults, against a real PostgreSQL the test stops, freezes and starts again:
start-up without a database, a permanent connection error, 503 + Retry-After on every route
with the keep-alive connection kept, statement timeouts on the server and on our side."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from aiexpense.app import create_app
from aiexpense.config import Settings
from aiexpense.domain.errors import DatabaseUnavailable
from aiexpense.store.db import Database
from aiexpense.store.startup import describe, pool_conninfo
from exporter import MetricsCollector
from tests.service import webhook_samples as ws
from tests.service.helpers import ADMIN, ADMIN_TOKEN, op_count
from tests.support import running, thresholds, wait_until

# Sample often; leave the error-rate rule out: the outage's own 503s would hold readiness
# down for the whole error window (5 minutes) after the database is back.
FAST = thresholds(interval_seconds=0.5, error_min_operations=1_000_000)


def settings(url: str, **overrides) -> Settings:
    values = dict(
        database_url=url,
        pool_min=1,
        pool_timeout_seconds=1.0,
        statement_timeout_seconds=1.0,
        thresholds=FAST,
        webhooks=ws.webhook_settings(),
        admin_token=ADMIN_TOKEN,  # the requests act as the admin: no token to look up
    )
    return Settings(**{**values, **overrides})


def ready(client: httpx.Client) -> bool:
    return client.get("/monitoring/ready").status_code == 200


class KeepAlive:
    """One HTTP/1.1 connection: every request must travel on the same socket."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        self.conn.connect()
        self.local = self.conn.sock.getsockname()

    def request(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json", **ADMIN} if data is not None else ADMIN
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        assert self.conn.sock is not None and self.conn.sock.getsockname() == self.local, (
            "the server closed the keep-alive connection"
        )
        return response, json.loads(payload) if payload else None


@contextlib.contextmanager
def frozen(server) -> Iterator[None]:
    """SIGSTOP the postmaster and every backend (a hung host), SIGCONT on the way out."""
    root = psutil.Process(server._server.get_pid())
    procs = [root, *root.children(recursive=True)]
    for p in procs:
        p.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGCONT)


@pytest.mark.slow
def test_serves_at_once_without_a_database_and_is_ready_when_it_appears(own_postgres):
    own_postgres.stop()
    app = create_app(settings(own_postgres.url))
    started = time.monotonic()
    with running(app) as base, httpx.Client(base_url=base, timeout=10, headers=ADMIN) as client:
        assert time.monotonic() - started < 5  # the pool's own wait used to be 30 s
        assert client.get("/monitoring/live").status_code == 200
        r = client.get("/monitoring/ready")
        assert r.status_code == 503
        assert "No such file or directory" in r.text or "unavailable" in r.text, r.text
        r = client.get("/api/users/1")
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json()["error"] == "database unavailable"
        assert "migrations have not run" in r.json()["detail"]

        own_postgres.start()
        wait_until(lambda: ready(client), timeout=20)
        assert app.state.service.migrated
        assert client.post("/api/users", json={"external_id": "late"}).status_code == 201


@pytest.mark.slow
def test_a_permanent_error_is_one_line_naming_the_cause_never_the_password(own_postgres, caplog):
    url = make_conninfo(own_postgres.url, user="nobody_here", password="hunter2-secret")
    caplog.set_level(logging.INFO, logger="aiexpense")
    app = create_app(settings(url))
    with running(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/monitoring/live").status_code == 200
        wait_until(lambda: app.state.startup.attempts >= 3, timeout=20)
        r = client.get("/monitoring/ready")
        assert r.status_code == 503
        assert 'role "nobody_here" does not exist' in r.json()["reason"]
    lines = [rec.getMessage() for rec in caplog.records if "nobody_here" in rec.getMessage()]
    assert len(lines) == 1, lines
    assert "nobody_here@" in lines[0] and ":5432/" in lines[0]
    assert "does not exist" in lines[0]
    assert "\n" not in lines[0]
    assert all("hunter2" not in rec.getMessage() for rec in caplog.records)
    assert "hunter2" not in r.text


@pytest.mark.slow
def test_every_route_answers_503_with_retry_after_and_keeps_the_connection(own_postgres):
    app = create_app(settings(own_postgres.url))
    with running(app) as base, httpx.Client(base_url=base, timeout=10, headers=ADMIN) as client:
        user = client.post("/api/users", json={"external_id": "amy"}).json()
        uid = user["id"]
        expense = client.post("/api/expenses", json={"user_id": uid, "amount": "12"}).json()
        eid = expense["id"]
        conn = KeepAlive(base)

        own_postgres.stop()
        routes = [
            ("POST", "/api/users", {"external_id": "bob"}),
            ("GET", "/api/users/999999", None),
            ("GET", f"/api/users/{uid}/summary", None),
            ("POST", "/api/expenses", {"user_id": uid, "amount": "5"}),
            ("GET", f"/api/expenses?user_id={uid}", None),
            ("PATCH", f"/api/expenses/{eid}", {"amount": "13"}),
            ("DELETE", f"/api/expenses/{eid}", None),
        ]
        for method, path, body in routes:
            response, data = conn.request(method, path, body)
            assert response.status == 503, (method, path, data)
            assert response.getheader("retry-after") == "5"
            assert response.getheader("content-type") == "application/json"
            assert response.getheader("connection") != "close"
            assert data["error"] == "database unavailable", data
        # The caches empty once the invalidation listener has lost the database (a cache
        # nobody can invalidate would go stale: docs/replicas.md), so the category list too
        # is a 503 now, not a stale answer.
        wait_until(lambda: conn.request("GET", "/api/categories")[0].status == 503, timeout=15)
        payload, _, _ = ws.sample("telegram", "lunch 120")
        r = ws.post(client, "telegram", payload)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"

        own_postgres.start()
        wait_until(lambda: ready(client), timeout=20)
        response, data = conn.request("GET", f"/api/expenses?user_id={uid}")
        assert response.status == 200 and data["count"] == 1


@pytest.mark.slow
def test_a_frozen_database_answers_503_within_the_statement_timeout(own_postgres):
    app = create_app(settings(own_postgres.url, statement_timeout_seconds=1.0))
    with running(app) as base, httpx.Client(base_url=base, timeout=30, headers=ADMIN) as client:
        uid = client.post("/api/users", json={"external_id": "cy"}).json()["id"]
        with frozen(own_postgres):
            started = time.monotonic()
            r = client.get(f"/api/expenses?user_id={uid}")
            took = time.monotonic() - started
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert "did not answer within 1.5s" in r.json()["detail"]
        assert took < 2.5, took  # was: as long as the database stayed frozen
        wait_until(lambda: ready(client), timeout=20)
        assert client.get(f"/api/expenses?user_id={uid}").status_code == 200


async def test_the_server_cancels_a_statement_past_its_timeout(database):
    db_settings = pool_conninfo(database.url, statement_timeout=0.3)
    async with AsyncConnectionPool(db_settings, min_size=1, max_size=1, open=False) as pool:
        await pool.open(wait=True, timeout=10)
        db = Database(pool, MetricsCollector(namespace="t"), answer_timeout=5.0)
        with pytest.raises(DatabaseUnavailable):
            await db.fetch_one("db_query", "SELECT 1")  # not migrated: refused, not run
        db.schema_ready = True
        started = time.monotonic()
        with pytest.raises(Exception) as caught:
            await db.fetch_one("db_query", "SELECT pg_sleep(3)")
        assert type(caught.value).__name__ == "QueryCanceled"
        assert time.monotonic() - started < 2
        assert await db.fetch_one("db_query", "SELECT 41 + 1") == (42,)  # same connection


def test_the_pool_url_keeps_the_callers_options_and_no_log_shows_a_password():
    url = "postgresql://app:hunter2@db.internal:6432/aiexpense?options=-c%20search_path%3Dapp"
    params = conninfo_to_dict(pool_conninfo(url, statement_timeout=2.5))
    assert params["options"] == "-c search_path=app -c statement_timeout=2500"
    assert params["connect_timeout"] == "3" and params["password"] == "hunter2"
    own = conninfo_to_dict(pool_conninfo(url + "%20-c%20statement_timeout%3D0", 2.5))
    assert own["options"].count("statement_timeout") == 1  # the URL's own setting wins
    assert describe(url) == "app@db.internal:6432/aiexpense"
    with pytest.raises(ValueError) as caught:
        pool_conninfo("postgresql://app:hunter2@[broken/aiexpense", 1.0)
    assert "hunter2" not in str(caught.value)


def _timed(base: str, method: str, path: str, **kwargs) -> tuple[int, str | None, float]:
    """(status, Retry-After, seconds) of one request on a connection of its own."""
    with httpx.Client(base_url=base, timeout=10) as client:  # an unbounded wait fails here
        started = time.monotonic()
        r = client.request(method, path, **kwargs)
        return r.status_code, r.headers.get("retry-after"), time.monotonic() - started


@pytest.mark.slow
def test_every_request_is_bounded_while_the_database_is_frozen(own_postgres):
    # The README's bound: a request that needs the database answers 503 + Retry-After
    # within max(pool timeout, statement timeout + 0.5 s) of the database going silent,
    # transactions included (a keyed POST, a webhook's claim). A cached credential is not
    # queued behind the exhausted pool at all.
    overrides = dict(statement_timeout_seconds=1.0, pool_timeout_seconds=1.0, pool_max=3)
    app = create_app(settings(own_postgres.url, **overrides))
    bound = max(1.0, 1.0 + 0.5)
    service = app.state.service
    with running(app) as base, httpx.Client(base_url=base, timeout=30, headers=ADMIN) as client:
        amy = client.post("/api/users", json={"external_id": "amy"}).json()
        uid, amy_auth = amy["id"], {"Authorization": f"Bearer {amy['token']}"}
        statements = lambda: sum(op_count(service, op) for op in ("db_query", "db_insert"))  # noqa: E731

        def cached() -> bool:  # the sign-up's own announcement has dropped and re-read it
            before = statements()
            return client.get(f"/api/users/{uid}", headers=amy_auth).status_code == 200 and (
                statements() == before
            )

        wait_until(cached, timeout=10)
        payload, _, _ = ws.sample("telegram", "lunch 120")
        body = json.dumps(payload).encode()
        expense = {"user_id": uid, "amount": "5"}
        requests = {
            **{
                f"writer {n}": ("POST", "/api/expenses", {"json": expense, "headers": ADMIN})
                for n in range(8)  # more than the pool holds: the others wait for it
            },
            "keyed POST": (
                "POST",
                "/api/expenses",
                {"json": expense, "headers": {**amy_auth, "Idempotency-Key": "k-1"}},
            ),
            "sign-up": ("POST", "/api/users", {"json": {"external_id": "bo"}, "headers": ADMIN}),
            "rotation": ("POST", f"/api/users/{uid}/tokens", {"headers": amy_auth}),
            "webhook": (
                "POST",
                "/webhook/telegram",
                {
                    "content": body,
                    "headers": {"content-type": "application/json", **ws.telegram_headers(body)},
                },
            ),
        }
        with frozen(own_postgres), ThreadPoolExecutor(len(requests) + 1) as pool:
            person = pool.submit(_timed, base, "GET", f"/api/users/{uid}", headers=amy_auth)
            answers = {
                name: pool.submit(_timed, base, method, path, **kwargs)
                for name, (method, path, kwargs) in requests.items()
            }
            answers = {name: future.result() for name, future in answers.items()}
            status, _, took = person.result()
            time.sleep(bound)  # frozen for longer than the bound, however fast the answers
        assert status == 200 and took < bound, (status, took)  # from the caches: no pool wait
        for name, (status, retry_after, took) in answers.items():
            assert status == 503 and retry_after == "5", (name, status)
            assert took <= bound + 0.5, (name, took)  # was: the whole freeze for a keyed POST
        wait_until(lambda: ready(client), timeout=20)
        retried = client.post(
            "/api/expenses", json=expense, headers={**amy_auth, "Idempotency-Key": "k-1"}
        )
        # the frozen attempt left nothing, and amy's token still works: the rotation answered
        # 503 did not land once the database thawed (it sometimes did, 4 runs in 12 of this
        # file with test_service_api.py, while its write ran outside a transaction)
        assert retried.status_code == 201, retried.text
