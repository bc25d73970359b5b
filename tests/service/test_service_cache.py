"""Caches: writes invalidate, a load that raced a write is not kept, the series are right."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry, Counter

from aiexpense.app import create_app
from aiexpense.config import Settings
from aiexpense.domain.operations import Op
from aiexpense.store.cache import MISSING, Cache
from aiexpense.store.invalidation import split_row
from exporter import MetricsCollector
from tests.service.helpers import ADMIN, ADMIN_TOKEN, op_count, open_service
from tests.support import async_wait_until, running, wait_until


@pytest.fixture
async def service(database):
    async with open_service(database.url, default_currency="USD") as svc:
        yield svc


def sample(collector: MetricsCollector, name: str, **labels: str) -> float | None:
    return collector.registry.get_sample_value(name, labels)


def notified(collector: MetricsCollector) -> float:
    """Keys of the expenses cache dropped because PostgreSQL announced a write."""
    name = "aiexpense_cache_invalidations_total"
    return sample(collector, name, cache="expenses", source="notify") or 0.0


async def test_read_after_write_never_shows_stale_data(service):
    user = await service.auto_signup("api", "amy")
    first = await service.create_expense(user.id, "10", description="coffee")
    assert [e.description for e in await service.get_expenses(user.id)] == ["coffee"]
    assert [e.description for e in await service.get_expenses(user.id)] == ["coffee"]  # cached

    await service.update_expense(first.id, description="espresso", amount="11")
    (seen,) = await service.get_expenses(user.id)
    assert (seen.description, str(seen.amount)) == ("espresso", "11.00")

    second = await service.create_expense(user.id, "5")
    assert {e.id for e in await service.get_expenses(user.id)} == {first.id, second.id}

    await service.delete_expense(first.id)
    assert [e.id for e in await service.get_expenses(user.id)] == [second.id]
    await service.delete_expense(second.id)
    assert await service.get_expenses(user.id) == []


async def test_a_warm_read_sends_no_query(service):
    user = await service.auto_signup("api", "amy")
    await service.create_expense(user.id, "10")
    await service.get_expenses(user.id)  # fills the cache
    queries = op_count(service, Op.DB_QUERY)
    for _ in range(5):
        assert len(await service.get_expenses(user.id, limit=50)) == 1
    assert op_count(service, Op.DB_QUERY) == queries
    c = service.collector
    assert sample(c, "aiexpense_cache_requests_total", cache="expenses", result="hit") == 5
    assert sample(c, "aiexpense_cache_requests_total", cache="expenses", result="miss") == 1


async def test_a_write_is_read_back_from_the_writers_cache_and_its_echo_skipped(service):
    """Write-through: the writer puts its new row into its own cached page (no reload), and
    its listener skips the write's own announcement instead of dropping that page."""
    user = await service.auto_signup("api", "amy")
    first = await service.create_expense(user.id, "10", description="coffee", category="food")
    assert [e.id for e in await service.get_expenses(user.id)] == [first.id]  # fills
    queries = op_count(service, Op.DB_QUERY)
    later = await service.create_expense(
        user.id, "3", description="tea", category="food", spent_on="2030-01-02"
    )
    earlier = await service.create_expense(
        user.id, "2", description="cake", category="food", spent_on="2001-01-02"
    )
    seen = await service.get_expenses(user.id)
    assert [e.id for e in seen] == [later.id, first.id, earlier.id]  # the query's order
    assert op_count(service, Op.DB_QUERY) == queries  # served from the revised page
    assert seen == await service.repo.latest_expenses(user.id, 100)  # what a reload reads
    queries += 1  # (that reload)
    await async_wait_until(lambda: service.listener.own_writes.skipped == 3, timeout=2)
    assert notified(service.collector) == 0  # no echo dropped the page
    assert len(service.listener.own_writes) == 0
    assert [e.id for e in await service.get_expenses(user.id)] == [later.id, first.id, earlier.id]
    assert op_count(service, Op.DB_QUERY) == queries


async def test_a_write_that_inserts_nothing_registers_no_announcement(service):
    user = await service.auto_signup("api", "amy")
    once = await service.create_expense(user.id, "10", platform="line", message_id="m-1")
    again = await service.create_expense(user.id, "10", platform="line", message_id="m-1")
    assert (again.id, again.created) == (once.id, False)
    await async_wait_until(lambda: service.listener.own_writes.skipped == 1, timeout=2)
    assert len(service.listener.own_writes) == 0  # the second insert's was withdrawn


async def test_a_load_racing_a_write_is_not_cached(service):
    """Reader misses and queries; a write lands and invalidates; then the reader's (old)
    rows arrive. They must not be stored, or the next read would show stale data."""
    user = await service.auto_signup("api", "amy")
    await service.create_expense(user.id, "1", description="old")
    fetched, release = asyncio.Event(), asyncio.Event()
    real = service.repo.latest_expenses

    async def slow_latest(user_id: int, limit: int):
        rows = await real(user_id, limit)  # read before the write below
        fetched.set()
        await release.wait()
        return rows

    service.repo.latest_expenses = slow_latest
    service.caches["expenses"].invalidate(user.id)  # the write put "old" in: read afresh
    reader = asyncio.create_task(service.get_expenses(user.id))
    await fetched.wait()
    # (a category given: no suggestion, which would read the very rows being held back)
    await service.create_expense(user.id, "2", description="new", category="other")
    release.set()
    assert [e.description for e in await reader] == ["old"]  # overlapped the write: fine
    service.repo.latest_expenses = real
    assert {e.description for e in await service.get_expenses(user.id)} == {"old", "new"}


@pytest.fixture
async def other(database):
    """A second process's service on the same database (its own caches and listener)."""
    async with open_service(database.url, default_currency="USD") as svc:
        yield svc


def cached(service, user_id: int) -> list[int] | None:
    """The ids in the person's cached page, None when nothing is cached."""
    entry = service.caches["expenses"]._data.get(user_id)
    return None if entry is None else [e.id for e in entry]


async def test_another_processs_new_expense_is_read_into_the_page(service, other):
    """One row read, not the page again; an update elsewhere still drops the page."""
    user = await service.auto_signup("api", "amy")
    first = await service.create_expense(user.id, "10", description="coffee", category="food")
    assert [e.id for e in await service.get_expenses(user.id)] == [first.id]
    queries = op_count(service, Op.DB_QUERY)
    new = await other.create_expense(user.id, "3", description="tea", category="food")
    await async_wait_until(lambda: cached(service, user.id) == [new.id, first.id], timeout=2)
    assert op_count(service, Op.DB_QUERY) == queries + 1  # the new row by its id
    seen = await service.get_expenses(user.id)
    assert seen == await service.repo.latest_expenses(user.id, 100)  # what a reload reads
    assert notified(service.collector) == 1  # dropped while the row was read

    await other.update_expense(new.id, description="green tea")
    await async_wait_until(lambda: cached(service, user.id) is None, timeout=2)
    assert [e.description for e in await service.get_expenses(user.id)] == ["green tea", "coffee"]


async def test_a_new_row_racing_another_write_is_not_kept(service, other):
    """The row is read; meanwhile it changes elsewhere: the page stays dropped and the next
    read loads the change, not the row as it was read."""
    user = await service.auto_signup("api", "amy")
    await service.create_expense(user.id, "1", description="old", category="other")
    await service.get_expenses(user.id)  # cached
    fetched, release = asyncio.Event(), asyncio.Event()
    real = service.listener.patches["expenses"]

    async def slow_fetch(row: int, key: object):
        found = await real.fetch(row, key)  # read before the update below
        fetched.set()
        await release.wait()
        return found

    service.listener.patches["expenses"] = real._replace(fetch=slow_fetch)
    new = await other.create_expense(user.id, "2", description="new", category="other")
    await asyncio.wait_for(fetched.wait(), 2)
    await other.update_expense(new.id, description="newer")
    await async_wait_until(lambda: notified(service.collector) == 2, timeout=2)
    release.set()
    await async_wait_until(lambda: not service.listener._patching, timeout=2)
    assert cached(service, user.id) is None
    assert {e.description for e in await service.get_expenses(user.id)} == {"old", "newer"}


async def test_the_plain_channel_still_announces_every_change(service, database):
    """Listeners of earlier versions hear ``aiexpense_cache`` only (a rolling update): it
    carries every change to expenses, as before migration 10."""
    async with await psycopg.AsyncConnection.connect(database.url, autocommit=True) as conn:
        await conn.execute("LISTEN aiexpense_cache")
        user = await service.auto_signup("api", "amy")
        made = await service.create_expense(user.id, "1", category="food")
        await service.update_expense(made.id, description="changed")
        await service.delete_expense(made.id)
        heard = [
            n.payload
            async for n in conn.notifies(timeout=5, stop_after=3)
            if n.payload.startswith("expenses:")
        ]
    assert heard == [f"expenses:{user.id}"] * 3


def test_a_row_announcement_names_its_row():
    assert split_row("expenses:42:1001") == ("expenses:42", 1001)
    assert split_row("expenses:42") == ("expenses:42", None)
    assert split_row("categories:all") == ("categories:all", None)


def test_cache_fill_ticket_unit():
    registry = CollectorRegistry()
    collector = MetricsCollector(
        registry, namespace="aiexpense", operations=Op.all(), process_metrics=False
    )
    requests = Counter("req", "r", ("cache", "result"), registry=registry)
    cache = Cache("t", collector, requests, maxsize=2, ttl=60)

    async def scenario():
        gate = asyncio.Event()

        async def load():
            await gate.wait()
            return "v1"

        task = asyncio.create_task(cache.get_or_load("k", load))
        await asyncio.sleep(0)
        cache.invalidate("k")
        gate.set()
        assert await task == "v1"
        assert cache.get("k") is MISSING  # the stale fill was dropped
        assert await cache.get_or_load("k", _value("v2")) == "v2"
        assert cache.get("k") == "v2"
        assert await cache.get_or_load("none", _value(None)) is None
        assert cache.get("none") is MISSING  # "no such row" is never cached
        cache.set("a", 1)
        cache.set("b", 2)  # maxsize 2: the least recently used ("k") goes
        assert len(cache) == 2 and cache.get("k") is MISSING

    asyncio.run(scenario())
    assert (cache.hits, cache.misses) == (1, 6)


def _value(value):
    async def load():
        return value

    return load


def test_cache_and_job_series_in_metrics_and_system(database):
    app = create_app(Settings(database_url=database.url, admin_token=ADMIN_TOKEN))
    with running(app) as base, httpx.Client(base_url=base, headers=ADMIN) as client:
        user = client.post("/api/users", json={"external_id": "amy"}).json()
        client.post("/api/expenses", json={"user_id": user["id"], "amount": "3"})
        # the write's own announcement is skipped (write-through), not applied
        wait_until(lambda: app.state.service.listener.own_writes.skipped == 1, timeout=2)
        assert notified(app.state.collector) == 0
        tokens_notified = lambda: sample(  # noqa: E731
            app.state.collector,
            "aiexpense_cache_invalidations_total",
            cache="tokens",
            source="notify",
        )
        wait_until(lambda: tokens_notified() == 1, timeout=2)  # the sign-up's token announced
        for _ in range(3):
            client.get("/api/expenses", params={"user_id": user["id"]})
        system = client.get("/monitoring/system").json()
        text = client.get("/metrics").text
    # users: the sign-up misses; its token's, create_expense's and the first read's user
    # checks hit.
    # categories: start-up's load misses, create_expense's category check hits.
    # expenses: the first read misses, the other two hit.
    # tokens: the sign-up's "has a token already?" misses (then the new digest is stored;
    # its own announcement may drop it before or after that, so the entries are 0 or 1;
    # the requests after it carry the admin token, which needs no lookup). 6 hits in 10.
    assert system["cache_hit_rate"] == 60.0
    assert system["job_queue_depth"] == 0
    for line in [
        'aiexpense_cache_requests_total{cache="expenses",result="hit"} 2.0',
        'aiexpense_cache_requests_total{cache="expenses",result="miss"} 1.0',
        'aiexpense_cache_requests_total{cache="users",result="hit"} 3.0',
        'aiexpense_cache_requests_total{cache="users",result="miss"} 1.0',
        'aiexpense_cache_entries{cache="expenses"} 1.0',
        'aiexpense_cache_entries{cache="users"} 2.0',
        'aiexpense_cache_entries{cache="categories"} 1.0',
        'aiexpense_cache_requests_total{cache="tokens",result="miss"} 1.0',
        "aiexpense_job_queue_depth 0.0",
        "aiexpense_job_queue_capacity 1000.0",
        'aiexpense_operations_total{operation="cache_get"} 10.0',
    ]:
        assert line in text.splitlines(), line
