"""``Idempotency-Key`` on ``POST /api/expenses`` over a real uvicorn and PostgreSQL: a retry
gets the first response and records nothing, concurrent retries create one expense, a key
reused with another body is refused, and keys expire after a day."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from aiexpense.app import create_app
from aiexpense.config import Settings
from tests.service.helpers import ADMIN, ADMIN_TOKEN, sign_up
from tests.support import Database, running


@dataclass(frozen=True)
class Server:
    client: httpx.Client
    db_url: str

    def person(self) -> tuple[int, dict[str, str]]:
        user, headers = sign_up(self.client, f"i-{uuid.uuid4().hex[:10]}", currency="USD")
        return user["id"], headers

    def count(self, user_id: int) -> int:
        with psycopg.connect(self.db_url) as conn:
            sql = "SELECT count(*) FROM expenses WHERE user_id = %s"
            return conn.execute(sql, (user_id,)).fetchone()[0]


@pytest.fixture(scope="module")
def server(module_database: Database) -> Iterator[Server]:
    url = module_database.url
    app = create_app(Settings(database_url=url, admin_token=ADMIN_TOKEN, pool_max=12))
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield Server(client, url)


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def test_a_retry_gets_the_first_response_and_records_nothing(server):
    uid, me = server.person()
    body = {"user_id": uid, "amount": "12.50", "description": "taxi"}
    first = server.client.post("/api/expenses", json=body, headers=keyed(me, "k-1"))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    # the expense changes meanwhile: the retry still gets the first response, as it was
    expense_id = first.json()["id"]
    server.client.patch(f"/api/expenses/{expense_id}", json={"amount": "99"}, headers=me)
    for _ in range(3):
        again = server.client.post("/api/expenses", json=body, headers=keyed(me, "k-1"))
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["location"] == first.headers["location"]
        assert again.headers["idempotent-replayed"] == "true"
    assert server.count(uid) == 1
    # the structured-field form of the same key ("k-1", quoted) is the same key
    quoted = server.client.post("/api/expenses", json=body, headers=keyed(me, '"k-1"'))
    assert quoted.content == first.content
    # a new key, or no key, is a new expense
    other = server.client.post("/api/expenses", json=body, headers=keyed(me, "k-2"))
    plain = server.client.post("/api/expenses", json=body, headers=me)
    assert len({first.json()["id"], other.json()["id"], plain.json()["id"]}) == 3
    assert server.count(uid) == 3
    with psycopg.connect(server.db_url) as conn:
        rows = conn.execute(
            "SELECT key, expense->>'id' FROM idempotency_keys WHERE user_id = %s ORDER BY key",
            (uid,),
        ).fetchall()
    assert rows == [("k-1", str(expense_id)), ("k-2", str(other.json()["id"]))]


def test_the_same_key_with_another_body_is_refused(server):
    uid, me = server.person()
    body = {"user_id": uid, "amount": "3"}
    assert server.client.post("/api/expenses", json=body, headers=keyed(me, "k")).is_success
    for changed in (
        {**body, "amount": "4"},
        {**body, "description": "x"},
        {**body, "currency": "EUR"},
    ):
        r = server.client.post("/api/expenses", json=changed, headers=keyed(me, "k"))
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "Idempotency-Key"
        assert "different request body" in r.json()["error"]
    assert server.count(uid) == 1
    # keys belong to a person: another person's same key is theirs alone
    other, them = server.person()
    r = server.client.post(
        "/api/expenses", json={"user_id": other, "amount": "4"}, headers=keyed(them, "k")
    )
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


def test_a_refused_request_does_not_use_up_its_key(server):
    uid, me = server.person()
    bad = server.client.post(
        "/api/expenses", json={"user_id": uid, "amount": "-1"}, headers=keyed(me, "once")
    )
    assert bad.status_code == 422 and bad.json()["field"] == "amount"
    good = server.client.post(
        "/api/expenses", json={"user_id": uid, "amount": "1"}, headers=keyed(me, "once")
    )
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers


@pytest.mark.parametrize(
    ("key", "why"),
    [("x" * 256, "too long"), ("", "empty"), ("clé", "not ASCII"), ("a\tb", "a control character")],
)
def test_a_malformed_key_is_refused(server, key, why):
    uid, me = server.person()
    headers = [(k, v) for k, v in me.items()] + [("Idempotency-Key", key.encode("utf-8"))]
    r = server.client.post("/api/expenses", json={"user_id": uid, "amount": "1"}, headers=headers)
    assert r.status_code == 422, (why, r.text)
    assert r.json()["field"] == "Idempotency-Key"
    assert server.count(uid) == 0


def test_a_key_given_twice_is_refused(server):
    uid, me = server.person()
    headers = [*me.items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    r = server.client.post("/api/expenses", json={"user_id": uid, "amount": "1"}, headers=headers)
    assert r.status_code == 422 and r.json() == {
        "error": "given more than once",
        "field": "Idempotency-Key",
    }


async def test_ten_concurrent_retries_with_one_key_create_one_expense(server):
    uid, me = server.person()
    base = str(server.client.base_url)
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=base, headers=me, limits=limits, timeout=30) as client:
        for round_ in range(3):  # a few rounds: the race is won differently each time
            key = f"race-{round_}"
            body = {"user_id": uid, "amount": f"{round_ + 1}.25", "description": "race"}
            replies = await asyncio.gather(
                *(
                    client.post("/api/expenses", json=body, headers={"Idempotency-Key": key})
                    for _ in range(10)
                )
            )
            assert [r.status_code for r in replies] == [201] * 10
            assert len({r.content for r in replies}) == 1
            assert sum("idempotent-replayed" in r.headers for r in replies) == 9
            assert server.count(uid) == round_ + 1


async def test_concurrent_requests_with_one_key_and_two_bodies_record_one_of_them(server):
    uid, me = server.person()
    base = str(server.client.base_url)
    bodies = [{"user_id": uid, "amount": amount} for amount in ("1", "2")] * 5
    async with httpx.AsyncClient(base_url=base, headers=me, timeout=30) as client:
        replies = await asyncio.gather(
            *(
                client.post("/api/expenses", json=body, headers={"Idempotency-Key": "two"})
                for body in bodies
            )
        )
    accepted = [r for r in replies if r.status_code == 201]
    assert len(accepted) == 5 and len({r.json()["id"] for r in accepted}) == 1
    assert {r.status_code for r in replies} == {201, 422}
    assert server.count(uid) == 1


def test_a_key_expires_after_a_day_and_old_keys_are_swept(server):
    uid, me = server.person()
    body = {"user_id": uid, "amount": "7"}
    first = server.client.post("/api/expenses", json=body, headers=keyed(me, "daily"))
    stale = [f"stale-{i}" for i in range(5)]
    for key in stale:
        server.client.post("/api/expenses", json=body, headers=keyed(me, key))
    with psycopg.connect(server.db_url) as conn:
        conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
            " WHERE user_id = %s",
            (uid,),
        )
    later = server.client.post("/api/expenses", json=body, headers=keyed(me, "daily"))
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    with psycopg.connect(server.db_url) as conn:
        left = conn.execute(
            "SELECT key FROM idempotency_keys WHERE user_id = %s", (uid,)
        ).fetchall()
    assert left == [("daily",)]  # reclaimed; the expired ones were swept with it


def test_the_admin_may_send_a_key_for_anyone(server):
    uid, _ = server.person()
    body = {"user_id": uid, "amount": "2"}
    first = server.client.post("/api/expenses", json=body, headers=keyed(ADMIN, "admin-1"))
    again = server.client.post("/api/expenses", json=body, headers=keyed(ADMIN, "admin-1"))
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert server.count(uid) == 1
