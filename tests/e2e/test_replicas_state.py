"""State several replicas share through one PostgreSQL, with two services in one process
(each its own pool, caches and listener, as two replicas would have): cache invalidation
over LISTEN/NOTIFY and its staleness bound when notifications are missed, webhook
idempotency, and the reply outbox (retries, Retry-After, end states, leases, drain)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aiexpense.store.invalidation import parse
from aiexpense.store.outbox import retry_after
from aiexpense.webhooks.deliveries import Claim, Deliveries
from aiexpense.webhooks.replies import Replies
from tests.service.helpers import open_service, scalar, select
from tests.support import async_wait_until, running

HEARTBEAT = 0.4  # the listeners' heartbeat here: missed notifications cost at most 0.8 s


def sample(service, name: str, **labels: str) -> float:
    return service.collector.registry.get_sample_value(name, labels) or 0.0


@contextlib.asynccontextmanager
async def two_replicas(url: str, **settings: Any) -> AsyncIterator[tuple[Any, Any]]:
    settings.setdefault("cache_heartbeat_seconds", HEARTBEAT)
    async with open_service(url, **settings) as a, open_service(url, **settings) as b:
        yield a, b


async def heard(service, count: float) -> None:
    """Wait until ``service`` has heard ``count`` announcements for its expenses cache."""
    await async_wait_until(lambda: notified(service) >= count, timeout=2)


def notified(service) -> float:
    return sample(service, "aiexpense_cache_invalidations_total", cache="expenses", source="notify")


async def shows(service, user_id: int, expected: set[str]) -> bool:
    return await descriptions(service, user_id) == expected


async def descriptions(service, user_id: int) -> set[str]:
    return {e.description for e in await service.get_expenses(user_id)}


# -- caches ---------------------------------------------------------------------------------


def test_payloads_parse_to_cache_keys():
    assert parse("expenses:42") == ("expenses", 42)
    assert parse("categories:all") == ("categories", "all")
    assert parse("expenses:x") is None and parse("users:1") is None and parse("junk") is None


async def test_a_write_on_one_replica_is_read_on_another_whose_cache_was_warm(database):
    async with two_replicas(database.url) as (a, b):
        user = await a.auto_signup("api", "amy")
        await a.create_expense(user.id, "10", description="coffee")
        await heard(b, 1)  # the write's announcement reached b (else it spoils b's first fill)
        assert await descriptions(b, user.id) == {"coffee"}
        assert await descriptions(b, user.id) == {"coffee"}  # warm: served from b's cache
        assert sample(b, "aiexpense_cache_requests_total", cache="expenses", result="hit") == 1

        written = time.monotonic()
        await a.create_expense(user.id, "4", description="tea")
        await async_wait_until(
            lambda: shows(b, user.id, {"coffee", "tea"}), timeout=2, interval=0.005
        )
        seen = time.monotonic() - written
        assert seen < 0.5  # announced at commit, not after a TTL (10 s) or a heartbeat
        invalidations = "aiexpense_cache_invalidations_total"
        assert sample(b, invalidations, cache="expenses", source="notify") >= 1
        assert sample(a, invalidations, cache="expenses", source="local") >= 1

        # an update and a delete made by hand in SQL (no service at all) reach b as well
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute("UPDATE expenses SET description = 'latte' WHERE description = 'coffee'")
        await async_wait_until(lambda: shows(b, user.id, {"latte", "tea"}), timeout=2)
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute("DELETE FROM expenses WHERE description = 'tea'")
        await async_wait_until(lambda: shows(b, user.id, {"latte"}), timeout=2)


async def test_a_write_is_in_its_writers_cache_at_once_and_in_anothers_within_the_bound(
    database,
):
    """Write-through: a's page takes a's new row at once (no query, its own echo skipped);
    b, whose page is warm too, drops it on a's announcement and reads the row afresh."""
    async with two_replicas(database.url) as (a, b):
        user = await a.auto_signup("api", "amy")
        await a.create_expense(user.id, "10", description="coffee", category="food")
        await heard(b, 1)
        for replica in (a, b):  # both warm
            assert await descriptions(replica, user.id) == {"coffee"}
        queries = a.collector.get("db_query").count

        written = time.monotonic()
        await a.create_expense(user.id, "4", description="tea", category="food")
        assert await descriptions(a, user.id) == {"coffee", "tea"}  # at once, from a's cache
        assert a.collector.get("db_query").count == queries
        await async_wait_until(
            lambda: shows(b, user.id, {"coffee", "tea"}), timeout=2, interval=0.005
        )
        assert time.monotonic() - written < b.listener.staleness_bound
        await async_wait_until(lambda: a.listener.own_writes.skipped == 2, timeout=2)
        assert notified(a) == 0 and notified(b) == 2  # b applied both, a skipped its own
        assert await descriptions(a, user.id) == {"coffee", "tea"}
        assert a.collector.get("db_query").count == queries


async def test_a_dropped_listener_reconnects_and_staleness_stays_bounded(database):
    async with two_replicas(database.url) as (a, b):
        assert b.listener.staleness_bound == 2 * HEARTBEAT
        user = await a.auto_signup("api", "amy")
        await a.create_expense(user.id, "10", description="coffee")
        await heard(b, 1)
        assert await descriptions(b, user.id) == {"coffee"}  # warm

        # The database drops b's listener: notifications for b are lost until it listens.
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'aiexpense-cache-listener'"
                " AND pid = %s",
                (b.listener.backend_pid,),
            )
        await a.create_expense(user.id, "4", description="tea")
        written = time.monotonic()
        await async_wait_until(
            lambda: shows(b, user.id, {"coffee", "tea"}), timeout=5, interval=0.01
        )
        assert time.monotonic() - written <= b.listener.staleness_bound
        await async_wait_until(lambda: b.listener.connected, timeout=5)
        assert sample(b, "aiexpense_cache_listener_reconnects_total") == 1
        assert sample(b, "aiexpense_cache_listener_up") == 1
        assert sample(b, "aiexpense_cache_invalidations_total", cache="expenses", source="resync")
        # and it hears announcements again
        before = notified(b)
        await a.create_expense(user.id, "2", description="cake")
        await heard(b, before + 1)
        assert await descriptions(b, user.id) == {"coffee", "tea", "cake"}


@pytest.mark.slow
async def test_a_silent_listener_is_noticed_within_the_staleness_bound(own_postgres):
    """The listener's backend stops answering but its connection stays open (a wedged
    server process, a network partition): no error arrives, only the heartbeat notices."""
    url = own_postgres.url
    async with two_replicas(url) as (a, b):
        user = await a.auto_signup("api", "amy")
        await a.create_expense(user.id, "10", description="coffee")
        await heard(b, 1)
        assert await descriptions(b, user.id) == {"coffee"}  # warm
        wedged = b.listener.backend_pid
        os.kill(wedged, signal.SIGSTOP)  # our own server: this test's process owns it
        try:
            stopped = time.monotonic()
            await a.create_expense(user.id, "4", description="tea")
            await async_wait_until(
                lambda: shows(b, user.id, {"coffee", "tea"}), timeout=5, interval=0.01
            )
            assert time.monotonic() - stopped <= b.listener.staleness_bound + 0.2
            await async_wait_until(lambda: b.listener.connected, timeout=10)
            assert b.listener.backend_pid != wedged
        finally:
            os.kill(wedged, signal.SIGCONT)


# -- webhook idempotency ------------------------------------------------------------------


async def test_a_message_is_claimed_once_whoever_asks_at_once(database):
    async with two_replicas(database.url) as (a, b):
        replicas = [Deliveries(a.db), Deliveries(b.db)]
        claims = await asyncio.gather(
            *(replicas[i % 2].claim(Claim("telegram", "42:7", "recorded")) for i in range(16))
        )
        assert claims.count(True) == 1
        assert await replicas[1].answered(Claim("telegram", "42:7", "recorded"))
        assert not await replicas[1].answered(Claim("telegram", "42:7", "none"))
        assert await replicas[0].claim(Claim("telegram", "42:8", "recorded")) is True
        assert await replicas[1].claim(Claim("line", "42:7", "recorded")) is True  # per platform
        # "no expense" answered, then the message edited into an expense: answered again
        assert await replicas[1].claim(Claim("telegram", "42:9", "none")) is True
        assert await replicas[0].claim(Claim("telegram", "42:9", "recorded")) is True
        assert await replicas[0].claim(Claim("telegram", "42:9", "none")) is False
        assert scalar(database.url, "SELECT count(*) FROM webhook_deliveries") == 5
        with psycopg.connect(database.url, autocommit=True) as conn:
            conn.execute("UPDATE webhook_deliveries SET answered_at = now() - interval '8 days'"
                         " WHERE message_id = '42:8'")  # fmt: skip
        assert await replicas[0].prune() == 1
        assert await replicas[0].claim(Claim("telegram", "42:7", "recorded")) is False


async def test_a_reply_is_queued_once_whoever_sends_it_at_once(database):
    """The claim and the reply in one transaction: of sends racing on two replicas for
    one message, one queues its reply; the others wait for its commit and queue none."""
    async with two_replicas(database.url) as (a, b):
        replies = [Replies(s, 5.0, Deliveries(s.db)) for s in (a, b)]
        claim = Claim("telegram", "42:7", "recorded")
        sent = await asyncio.gather(
            *(replies[i % 2].send("telegram", "http://127.0.0.1:9/", {"n": i}, {}, claim)
              for i in range(8))
        )  # fmt: skip
        assert len([r for r in sent if r is not None]) == 1
        assert scalar(database.url, "SELECT count(*) FROM reply_outbox") == 1
        assert scalar(database.url, "SELECT count(*) FROM webhook_deliveries") == 1


# -- the reply outbox -----------------------------------------------------------------------


class Platform:
    """A reply API of our own: answers each call with the next scripted (status, headers)."""

    def __init__(self, *script: tuple[int, dict[str, str]], delay: float = 0.0) -> None:
        self.script = list(script)
        self.delay = delay
        self.calls: list[tuple[float, str, dict[str, Any], dict[str, str]]] = []

    def app(self) -> Starlette:
        async def reply(request: Request) -> JSONResponse:
            self.calls.append(
                (time.monotonic(), request.url.path, await request.json(), dict(request.headers))
            )
            await asyncio.sleep(self.delay)
            status, headers = self.script.pop(0) if self.script else (200, {})
            return JSONResponse({"ok": status < 300}, status_code=status, headers=headers)

        return Starlette(routes=[Route("/{path:path}", reply, methods=["POST"])])


@contextlib.contextmanager
def platform(*script: tuple[int, dict[str, str]], delay: float = 0.0) -> Iterator[Any]:
    p = Platform(*script, delay=delay)
    with running(p.app(), lifespan="off") as base:
        p.base = base
        yield p


def rows(url: str) -> list[tuple]:
    return select(
        url,
        "SELECT id, state, attempts, leased, url, headers, last_error FROM reply_outbox"
        " ORDER BY id",
    )


def outcome(service, name: str) -> float:
    return sample(service, "aiexpense_replies_total", outcome=name)


@pytest.mark.slow
async def test_a_429_is_retried_after_its_retry_after_and_delivered(database):
    token = "777:outbox-secret"
    with platform((429, {"Retry-After": "1"}), (503, {})) as api:
        async with open_service(
            database.url, reply_poll_seconds=0.05,
            webhooks=_webhooks(telegram_bot_token=token),
        ) as service:  # fmt: skip
            await service.outbox.enqueue(
                "telegram", f"{api.base}/bot{token}/sendMessage", {"text": "hi"},
                {"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            # stored without the secret, which only the outgoing request carries
            [(_, _, _, _, stored_url, stored_headers, _)] = rows(database.url)
            assert token not in stored_url and token not in str(stored_headers)
            assert stored_url.endswith("/bot${telegram_bot_token}/sendMessage")
            await async_wait_until(lambda: outcome(service, "delivered") == 1, timeout=10)
        (first, path, payload, headers), (second, *_), (third, *_) = api.calls
    assert path == f"/bot{token}/sendMessage" and headers["authorization"] == f"Bearer {token}"
    assert payload == {"text": "hi"}
    assert second - first >= 1.0  # Retry-After: 1 honoured
    assert third - second >= 2.0  # no Retry-After on the 503: backoff 1, 2, 4 s ... → 2 s
    assert [r[1:4] for r in rows(database.url)] == [("delivered", 3, False)]
    assert outcome(service, "retry") == 2 and outcome(service, "failed") == 0
    jobs = "aiexpense_jobs_total"
    assert sample(service, jobs, job="send_reply", result="error") == 2
    assert sample(service, jobs, job="send_reply", result="ok") == 1
    assert service.collector.get("send_reply").count == 3


async def test_replies_end_failed_after_the_last_attempt_or_a_refusal(database):
    with platform((500, {}), (500, {}), (400, {})) as api:
        async with open_service(
            database.url, reply_poll_seconds=0.05, reply_max_attempts=2
        ) as service:
            await service.outbox.enqueue("slack", f"{api.base}/a", {"n": 1}, {})
            await async_wait_until(lambda: outcome(service, "failed") == 1, timeout=10)
            await service.outbox.enqueue("slack", f"{api.base}/b", {"n": 2}, {})
            await async_wait_until(lambda: outcome(service, "failed") == 2, timeout=10)
    assert [r[1:3] for r in rows(database.url)] == [("failed", 2), ("failed", 1)]
    assert "HTTP 500" in rows(database.url)[0][6] and "HTTP 400" in rows(database.url)[1][6]
    assert [c[1] for c in api.calls] == ["/a", "/a", "/b"]
    assert outcome(service, "retry") == 1 and outcome(service, "delivered") == 0


async def test_a_dead_replicas_reply_is_taken_over_when_its_lease_ends(database):
    with platform() as api:
        async with open_service(database.url, reply_poll_seconds=0.05) as service:
            await service.outbox.stop()  # no worker: the row stays queued for the scene below
            await service.outbox.enqueue("line", f"{api.base}/reply", {"n": 1}, {})
            # a replica claimed it (lease of 1 s) and was killed before recording an outcome
            with psycopg.connect(database.url, autocommit=True) as conn:
                conn.execute("UPDATE reply_outbox SET attempts = 1, leased = true,"
                             " run_after = now() + interval '1 second'")  # fmt: skip
            claimed = time.monotonic()
            await service.outbox.start()
            await async_wait_until(lambda: outcome(service, "delivered") == 1, timeout=10)
    assert len(api.calls) == 1 and api.calls[0][0] - claimed >= 0.9
    assert outcome(service, "reclaimed") == 1  # a possible duplicate, counted
    assert [r[1:4] for r in rows(database.url)] == [("delivered", 2, False)]


async def test_shutdown_puts_replies_cut_off_back_for_another_replica(database):
    with platform(delay=1.0) as api:
        async with open_service(
            database.url, reply_poll_seconds=0.05, job_drain_seconds=0.3, reply_workers=1
        ) as a:
            for n in range(3):
                await a.outbox.enqueue("line", f"{api.base}/reply", {"n": n}, {})
            await async_wait_until(lambda: a.outbox.in_progress == 1, timeout=5)
            left = await a.stop()
        assert left == ["reply-1"]  # the one being sent; rows 2 and 3 were never claimed
        assert [r[1:4] for r in rows(database.url)] == [("queued", 1, True)] + [
            ("queued", 0, False)
        ] * 2
        api.delay = 0.0
        async with open_service(database.url, reply_poll_seconds=0.05) as b:
            await async_wait_until(lambda: outcome(b, "delivered") == 3, timeout=10)
            assert outcome(b, "reclaimed") == 1
    assert sorted(c[2]["n"] for c in api.calls) == [0, 0, 1, 2]  # 0 twice: cut off, resent
    assert {r[1] for r in rows(database.url)} == {"delivered"}


def test_retry_after_reads_seconds_dates_and_telegrams_body():
    import httpx

    def answer(headers=None, body=None) -> httpx.Response:
        return httpx.Response(429, headers=headers or {}, json=body or {})

    assert retry_after(answer({"Retry-After": "7"})) == 7.0
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= retry_after(answer({"Retry-After": later})) <= 30
    assert retry_after(answer(body={"ok": False, "parameters": {"retry_after": 3}})) == 3.0
    assert retry_after(answer()) is None
    assert retry_after(answer({"Retry-After": "soon"})) is None


def _webhooks(**values: Any):
    from aiexpense.config import WebhookSettings

    return WebhookSettings(**values)
