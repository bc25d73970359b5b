"""Micro-benchmarks of the expense service on a real PostgreSQL, each beside its floor.

A floor is the raw psycopg statement the service sends, on the same pool (autocommit,
server-side prepared after a few uses, exactly as the service's connections are), with
no validation, cache or timing: what the operation would cost if the service added
nothing. The warm and cold reads share one person holding ``SEED_ROWS`` expenses.

``prepare(url)`` migrates and seeds the database once (the parent does it before pyperf
spawns its workers); each worker then opens its own pool and service on first use.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial

from psycopg_pool import AsyncConnectionPool

from aiexpense import ExpenseService
from aiexpense.config import Settings
from aiexpense.store.repository import _INSERT_EXPENSE, _INSERT_USER, _LATEST_EXPENSES
from aiexpense.text.parsing import parse_conversation
from exporter import MetricsCollector, NullCollector

READER = ("api", "bench-reader")  # holds SEED_ROWS expenses; the reads read them
WRITER = ("api", "bench-writer")  # create_expense writes here, so the reader's rows stay put
SEED_ROWS = 5000
TYPICAL_MESSAGE = "lunch 120"
MULTI_MESSAGE = "breakfast 80, bus 30 and coffee 55 yesterday"
AMOUNT = Decimal("12.50")
DAY = date(2024, 1, 1)

_SEED = """
    INSERT INTO expenses (user_id, amount, currency, category, description, spent_on, platform)
    SELECT %s, round((i %% 400 + 1)::numeric / 4, 2), 'USD', 'food', 'seed ' || i,
           DATE '2022-01-01' + (i %% 730), 'api'
    FROM generate_series(1, %s) AS i
"""

Op = Callable[[], Awaitable[object]] | Callable[[], object]


@dataclass
class Bench:
    """One worker's event loop, pool, service and the two people the cases use."""

    loop: asyncio.AbstractEventLoop
    pool: AsyncConnectionPool
    service: ExpenseService
    reader_id: int
    writer_id: int

    def run(self, coroutine: Awaitable[object]) -> object:
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        self.run(self.service.stop())
        self.run(self.pool.close())
        self.loop.close()


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop, as under ``exporter serve`` (uvicorn picks it when installed)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def settings_from_env() -> Settings:
    settings = Settings.from_env()
    if settings.database_url is None:
        raise SystemExit("DATABASE_URL is not set: run the benchmarks through `aiexpense-bench`")
    return settings


async def open_service(settings: Settings) -> tuple[AsyncConnectionPool, ExpenseService]:
    pool = AsyncConnectionPool(
        settings.database_url, min_size=2, max_size=2, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=True, timeout=30.0)
    cls = MetricsCollector if settings.instrumentation else NullCollector
    service = ExpenseService(pool, cls(process_metrics=False), settings)
    await service.start()
    return pool, service


async def prepare(settings: Settings) -> None:
    """Migrate and seed (idempotent): the reader gets ``SEED_ROWS`` expenses."""
    pool, service = await open_service(settings)
    try:
        reader = await service.auto_signup(*READER, currency="USD")
        await service.auto_signup(*WRITER, currency="USD")
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM expenses WHERE user_id = %s", (reader.id,)
            )
            (have,) = await cur.fetchone()
            if have < SEED_ROWS:
                await conn.execute(_SEED, (reader.id, SEED_ROWS - have))
            await conn.execute("ANALYZE expenses")
    finally:
        await service.stop()
        await pool.close()


def open_bench(settings: Settings) -> Bench:
    loop = new_loop()
    asyncio.set_event_loop(loop)
    pool, service = loop.run_until_complete(open_service(settings))
    reader = loop.run_until_complete(service.auto_signup(*READER, currency="USD"))
    writer = loop.run_until_complete(service.auto_signup(*WRITER, currency="USD"))
    return Bench(loop, pool, service, reader.id, writer.id)


# -- the cases: factories of one operation (a coroutine function, or plain for parsing) ---


def auto_signup_new(b: Bench) -> Op:
    """A person seen for the first time: validation, cache miss, INSERT, two cache sets."""
    names = (f"bench-{os.getpid()}-{n}" for n in itertools.count())
    return lambda: b.service.auto_signup("api", next(names))


def auto_signup_cached(b: Bench) -> Op:
    """A returning person: validation and a cache hit, no database."""
    return partial(b.service.auto_signup, *WRITER)


def floor_signup_insert(b: Bench) -> Op:
    names = (f"raw-{os.getpid()}-{n}" for n in itertools.count())

    async def op() -> object:
        async with b.pool.connection() as conn:
            cur = await conn.execute(_INSERT_USER, ("api", next(names), None, "USD"))
            return await cur.fetchone()

    return op


def create_expense(b: Bench) -> Op:
    return partial(
        b.service.create_expense,
        b.writer_id,
        AMOUNT,
        category="food",
        description="coffee",
        spent_on=DAY,
    )


def floor_insert_expense(b: Bench) -> Op:
    params = (b.writer_id, AMOUNT, "USD", "food", "coffee", DAY, "api", None)

    async def op() -> object:
        async with b.pool.connection() as conn:
            cur = await conn.execute(_INSERT_EXPENSE, params)
            return await cur.fetchone()

    return op


def get_expenses_warm(b: Bench) -> Op:
    return partial(b.service.get_expenses, b.reader_id, 100)


def get_expenses_cold(b: Bench) -> Op:
    """The cache entry is dropped before each read, so every call goes to PostgreSQL."""
    recent = b.service.caches["expenses"]

    async def op() -> object:
        recent.invalidate(b.reader_id)
        return await b.service.get_expenses(b.reader_id, 100)

    return op


def floor_select_100(b: Bench) -> Op:
    async def op() -> object:
        async with b.pool.connection() as conn:
            cur = await conn.execute(_LATEST_EXPENSES, (b.reader_id, 100))
            return await cur.fetchall()

    return op


def parse_typical(b: Bench | None) -> Op:
    return partial(parse_conversation, TYPICAL_MESSAGE, DAY, "TWD")


def parse_multi(b: Bench | None) -> Op:
    return partial(parse_conversation, MULTI_MESSAGE, DAY, "TWD")


# name -> (factory, floor name or None, needs the database)
CASES: dict[str, tuple[Callable[[Bench], Op], str | None, bool]] = {
    "service.auto_signup_new": (auto_signup_new, "floor.raw_signup_insert", True),
    "floor.raw_signup_insert": (floor_signup_insert, None, True),
    "service.auto_signup_cached": (auto_signup_cached, None, True),
    "service.create_expense": (create_expense, "floor.raw_insert_expense", True),
    "floor.raw_insert_expense": (floor_insert_expense, None, True),
    "service.get_expenses_100_warm": (get_expenses_warm, "service.get_expenses_100_cold", True),
    "service.get_expenses_100_cold": (get_expenses_cold, "floor.raw_select_100", True),
    "floor.raw_select_100": (floor_select_100, None, True),
    "service.parse_conversation": (parse_typical, None, False),
    "service.parse_conversation_multi": (parse_multi, None, False),
}
