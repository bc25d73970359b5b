"""The API's credentials over a real uvicorn and PostgreSQL: every route that touches a
person's data refuses without a valid token (401), treats another person's data as absent
(404), and accepts the person's own token and the admin's; tokens are stored only as
digests and rotate."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from aiexpense.app import create_app
from aiexpense.config import Settings
from tests.service.helpers import ADMIN, ADMIN_TOKEN, bearer, sign_up
from tests.support import Database, running

CHALLENGE = 'Bearer realm="api"'
INVALID = 'Bearer realm="api", error="invalid_token"'

# Every /api route that reads or changes a person's data: (method, path, JSON body).
# {uid} is the person's id, {eid} one of their expenses.
ROUTES = {
    "get user": ("GET", "/api/users/{uid}", None),
    "summary": ("GET", "/api/users/{uid}/summary", None),
    "rotate token": ("POST", "/api/users/{uid}/tokens", None),
    "create expense": ("POST", "/api/expenses", {"user_id": "{uid}", "amount": "1"}),
    "list expenses": ("GET", "/api/expenses?user_id={uid}", None),
    "update expense": ("PATCH", "/api/expenses/{eid}", {"amount": "2"}),
    "delete expense": ("DELETE", "/api/expenses/{eid}", None),
}
PUBLIC = {("GET", "/api/categories"), ("GET", "/api/categories/{slug}")}
SIGN_UP = ("POST", "/api/users")
GHOST = 2**62  # an id no one has


@dataclass(frozen=True)
class Server:
    client: httpx.Client
    db_url: str


@pytest.fixture(scope="module")
def server(module_database: Database) -> Iterator[Server]:
    app = create_app(Settings(database_url=module_database.url, admin_token=ADMIN_TOKEN))
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield Server(client, module_database.url)


@dataclass(frozen=True)
class Person:
    user: dict
    headers: dict[str, str]
    expense_id: int

    @property
    def id(self) -> int:
        return self.user["id"]


def person(client: httpx.Client) -> Person:
    """A new person with one expense."""
    user, headers = sign_up(client, f"p-{uuid.uuid4().hex[:10]}", currency="USD")
    r = client.post("/api/expenses", json={"user_id": user["id"], "amount": "5"}, headers=headers)
    assert r.status_code == 201, r.text
    return Person(user, headers, r.json()["id"])


def call(client: httpx.Client, route: str, owner: Person, headers: dict | None) -> httpx.Response:
    method, path, body = ROUTES[route]
    path = path.format(uid=owner.id, eid=owner.expense_id)
    if body is not None:
        body = {k: owner.id if v == "{uid}" else v for k, v in body.items()}
    return client.request(method, path, json=body, headers=headers)


def test_the_table_covers_every_api_route() -> None:
    app = create_app(Settings(database_url="postgresql://127.0.0.1:1/unused"))
    served = {
        (method, route.path)
        for route in app.routes
        if route.path.startswith("/api")
        for method in route.methods - {"HEAD"}
    }
    guarded = {(method, path.partition("?")[0]) for method, path, _ in ROUTES.values()}
    guarded = {(m, p.replace("{uid}", "{user_id}").replace("{eid}", "{expense_id}"))
               for m, p in guarded}  # fmt: skip
    assert served == guarded | PUBLIC | {SIGN_UP}


FORGED = [
    ("no header", None, CHALLENGE),
    ("another scheme", {"Authorization": "Basic YW15OnNlY3JldA=="}, CHALLENGE),
    ("empty bearer", {"Authorization": "Bearer"}, INVALID),
    ("garbage", {"Authorization": "Bearer not-a-token"}, INVALID),
    ("forged", None, INVALID),  # shaped like the owner's token, with a made-up secret
    ("too long", {"Authorization": "Bearer " + "a" * 5000}, INVALID),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("case", "headers", "challenge"), FORGED, ids=[c[0] for c in FORGED])
def test_every_route_refuses_without_a_valid_token(server, route, case, headers, challenge):
    owner = person(server.client)
    if case == "forged":
        headers = bearer(f"aiex_{owner.id}_{'A' * 43}")
    r = call(server.client, route, owner, headers)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == challenge
    assert r.json()["field"] == "Authorization" and "token" in r.json()["error"]
    # nothing changed, nothing leaked
    assert owner.user["external_id"] not in r.text
    listed = server.client.get("/api/expenses", params={"user_id": owner.id}, headers=ADMIN)
    assert [(e["id"], e["amount"]) for e in listed.json()["expenses"]] == [
        (owner.expense_id, "5.00")
    ]


@pytest.mark.parametrize("route", ROUTES)
def test_another_persons_token_finds_nothing_there(server, route):
    owner, other = person(server.client), person(server.client)
    r = call(server.client, route, owner, other.headers)
    assert r.status_code == 404, r.text
    # word for word what an id that does not exist gets: walking ids tells nothing
    missing = call(server.client, route, Person({"id": GHOST}, other.headers, GHOST), other.headers)
    assert missing.status_code == 404
    named = owner.expense_id if "{eid}" in ROUTES[route][1] else owner.id
    assert r.json() == {
        "field": missing.json()["field"],
        "error": missing.json()["error"].replace(str(GHOST), str(named)),
    }
    assert owner.user["external_id"] not in r.text
    # the owner's data is as it was, and the owner's token still works
    listed = server.client.get("/api/expenses", params={"user_id": owner.id}, headers=owner.headers)
    assert [(e["id"], e["amount"]) for e in listed.json()["expenses"]] == [
        (owner.expense_id, "5.00")
    ]


@pytest.mark.parametrize("who", ["own token", "admin token"])
@pytest.mark.parametrize("route", ROUTES)
def test_the_persons_own_token_and_the_admin_token_are_accepted(server, route, who):
    owner = person(server.client)
    r = call(server.client, route, owner, owner.headers if who == "own token" else ADMIN)
    assert r.is_success, r.text
    if route == "get user":
        assert r.json()["external_id"] == owner.user["external_id"]  # shown to them only
        assert "token" not in r.json()


def test_categories_are_public_reference_data(server):
    assert server.client.get("/api/categories").status_code == 200
    assert server.client.get("/api/categories/food").json()["slug"] == "food"


def test_sign_up_needs_the_admin_token_and_hands_out_a_token_once(server):
    external_id = f"s-{uuid.uuid4().hex[:10]}"
    body = {"external_id": external_id}
    r = server.client.post("/api/users", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == CHALLENGE
    someone = person(server.client)
    r = server.client.post("/api/users", json=body, headers=someone.headers)
    assert r.status_code == 403, r.text
    assert r.json() == {
        "error": "sign-up needs the admin token; a person's token cannot do it",
        "field": "Authorization",
    }
    first = server.client.post("/api/users", json=body, headers=ADMIN)
    assert first.status_code == 201 and first.json()["token"].startswith("aiex_")
    assert first.headers["cache-control"] == "no-store"  # no proxy keeps a token
    again = server.client.post("/api/users", json=body, headers=ADMIN)
    assert again.status_code == 200 and "token" not in again.json()
    assert again.json() == {k: v for k, v in first.json().items() if k != "token"}
    me = server.client.get(
        f"/api/users/{first.json()['id']}", headers=bearer(first.json()["token"])
    )
    assert me.json()["external_id"] == external_id


async def test_concurrent_sign_ups_of_one_person_hand_out_one_token(server):
    body = {"external_id": f"c-{uuid.uuid4().hex[:10]}"}
    base = str(server.client.base_url)
    async with httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=30) as client:
        replies = await asyncio.gather(*(client.post("/api/users", json=body) for _ in range(10)))
    assert sorted(r.status_code for r in replies) == [200] * 9 + [201]
    tokens = [r.json()["token"] for r in replies if "token" in r.json()]
    assert len(tokens) == 1
    uid = replies[0].json()["id"]
    assert server.client.get(f"/api/users/{uid}", headers=bearer(tokens[0])).status_code == 200


def test_sign_up_is_disabled_without_an_admin_token(database):
    app = create_app(Settings(database_url=database.url))
    with running(app) as base, httpx.Client(base_url=base) as client:
        for headers in ({}, ADMIN):
            r = client.post("/api/users", json={"external_id": "amy"}, headers=headers)
            assert r.status_code == 403
            assert r.json()["error"] == "sign-up is disabled: no admin token is configured"
        # and a token that is not configured is no admin token anywhere else either
        r = client.get("/api/expenses", params={"user_id": 1}, headers=ADMIN)
        assert r.status_code == 401 and r.headers["www-authenticate"] == INVALID


def _rows(url: str) -> list[str]:
    """Every row of every table in the database, as text."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        return [
            row[0]
            for (table,) in tables
            for row in conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()
        ]


def test_tokens_are_stored_only_as_sha256_digests(server):
    someone = person(server.client)
    token = someone.user["token"]
    with psycopg.connect(server.db_url) as conn:
        stored = conn.execute(
            "SELECT sha256 FROM api_tokens WHERE user_id = %s", (someone.id,)
        ).fetchone()[0]
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()
    secret = token.rsplit("_", 1)[1]
    rows = _rows(server.db_url)
    assert any(someone.user["external_id"] in row for row in rows)  # the scan reads data
    assert not any(secret in row for row in rows)


def test_rotation_replaces_the_token_with_the_persons_or_the_admins_credential(server):
    someone, other = person(server.client), person(server.client)
    old = someone.headers
    r = server.client.post(f"/api/users/{someone.id}/tokens", headers=old)
    assert r.status_code == 201 and r.json()["user_id"] == someone.id
    assert r.headers["cache-control"] == "no-store"
    new = bearer(r.json()["token"])
    assert r.json()["token"] != someone.user["token"]
    path = f"/api/users/{someone.id}"
    assert server.client.get(path, headers=old).status_code == 401  # at once, in this process
    assert server.client.get(path, headers=new).status_code == 200
    # the admin can rotate too (a person who lost their token); another person cannot
    rotate = f"/api/users/{someone.id}/tokens"
    assert server.client.post(rotate, headers=other.headers).status_code == 404
    latest = server.client.post(rotate, headers=ADMIN).json()["token"]
    newest = bearer(latest)
    assert server.client.get(path, headers=new).status_code == 401
    assert server.client.get(path, headers=newest).json()["id"] == someone.id
    assert server.client.get(f"/api/users/{other.id}", headers=other.headers).status_code == 200
    with psycopg.connect(server.db_url) as conn:
        rows = conn.execute(
            "SELECT sha256 FROM api_tokens WHERE user_id = %s", (someone.id,)
        ).fetchall()
    assert [bytes(row[0]) for row in rows] == [hashlib.sha256(latest.encode()).digest()]


def test_a_token_rotated_through_one_replica_works_at_once_on_another(module_database):
    # Two instances on one database, as two replicas (or two worker processes) would be:
    # each has its own token cache.
    settings = Settings(database_url=module_database.url, admin_token=ADMIN_TOKEN)
    with (
        running(create_app(settings)) as one_url,
        running(create_app(settings)) as two_url,
        httpx.Client(base_url=one_url) as one,
        httpx.Client(base_url=two_url) as two,
    ):
        user, old = sign_up(one, f"r-{uuid.uuid4().hex[:10]}")
        path = f"/api/users/{user['id']}"
        assert two.get(path, headers=old).status_code == 200  # now in two's cache
        new = bearer(one.post(f"{path}/tokens", headers=old).json()["token"])
        assert two.get(path, headers=new).status_code == 200  # not refused by a stale cache
        assert one.get(path, headers=old).status_code == 401
        assert two.get(path, headers=old).status_code == 401  # the re-read replaced the entry
