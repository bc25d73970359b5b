"""Concurrency: simultaneous sign-ups of one person, hundreds of parallel creates over HTTP."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx

from aiexpense.app import create_app
from aiexpense.config import Settings
from tests.service.helpers import ADMIN, ADMIN_TOKEN, bearer, open_service, scalar
from tests.support import running


async def test_fifty_parallel_signups_of_one_person_make_one_row(database):
    # Two instances (two pools, two caches) racing, as two replicas behind a balancer would.
    async with (
        open_service(database.url) as one,
        open_service(database.url) as two,
    ):
        users = await asyncio.gather(
            *(
                (one if i % 2 else two).auto_signup("telegram", "42", display_name=f"n{i}")
                for i in range(50)
            )
        )
    assert len({u.id for u in users}) == 1
    assert sum(u.created for u in users) == 1
    sql = "SELECT count(*) FROM users WHERE platform = 'telegram' AND external_id = '42'"
    assert scalar(database.url, sql) == 1


async def test_two_hundred_parallel_creates_over_http_are_all_persisted(database):
    app = create_app(Settings(database_url=database.url, pool_max=10, admin_token=ADMIN_TOKEN))
    with running(app) as base:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            signup = {"external_id": "busy"}
            user = (await client.post("/api/users", json=signup, headers=ADMIN)).json()
            client.headers.update(bearer(user["token"]))  # the creates carry the person's token

            async def create(i: int) -> httpx.Response:
                body = {"user_id": user["id"], "amount": f"{i}.01", "description": f"#{i}"}
                return await client.post("/api/expenses", json=body)

            replies = await asyncio.gather(*(create(i) for i in range(200)))
            statuses = [r.status_code for r in replies]
            assert statuses.count(201) == 200, {s: statuses.count(s) for s in set(statuses)}
            listed = await client.get(
                "/api/expenses", params={"user_id": user["id"], "limit": 1000}
            )
    acknowledged = [r.json() for r in replies]
    assert len({e["id"] for e in acknowledged}) == 200
    assert scalar(database.url, "SELECT count(*) FROM expenses") == len(acknowledged)
    expected = sum(Decimal(f"{i}.01") for i in range(200))
    assert scalar(database.url, "SELECT sum(amount) FROM expenses") == expected
    assert listed.json()["count"] == 200  # the cache saw every write
