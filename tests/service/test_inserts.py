"""Concurrent creates go to PostgreSQL together: fewer statements, each caller its own row,
pages and announcements as for single inserts, a bad row failing only its own request."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import psycopg
import pytest

from aiexpense.domain.operations import Op
from aiexpense.store.inserts import ExpenseInserts
from tests.service.helpers import op_count, open_service
from tests.support import async_wait_until


@pytest.fixture
async def service(database):
    async with open_service(database.url, default_currency="USD") as svc:
        yield svc


async def test_concurrent_creates_share_statements_and_each_gets_its_own_row(service):
    amy, bob = await service.auto_signup("api", "amy"), await service.auto_signup("api", "bob")
    await service.create_expense(amy.id, "1", description="first", category="food")
    for user in (amy, bob):
        await service.get_expenses(user.id)  # warm pages
    inserts, queries = op_count(service, Op.DB_INSERT), op_count(service, Op.DB_QUERY)
    made = await asyncio.gather(
        *(
            service.create_expense(
                (amy, bob)[n % 2].id, f"{n + 1}.25", description=f"d{n}", category="food"
            )
            for n in range(20)
        )
    )
    assert [(e.user_id, e.amount, e.description) for e in made] == [
        ((amy, bob)[n % 2].id, Decimal(f"{n + 1}.25"), f"d{n}") for n in range(20)
    ]
    assert all(e.created for e in made) and len({e.id for e in made}) == 20
    sent = op_count(service, Op.DB_INSERT) - inserts
    assert sent < 20 and sent == service.inserts.statements - 1  # (the first create's)
    for user in (amy, bob):  # the writer's pages hold every new row, in the query's order
        page = await service.get_expenses(user.id)
        assert page == await service.repo.latest_expenses(user.id, 100)
    assert op_count(service, Op.DB_QUERY) == queries + 2  # only the two comparisons above
    # every announcement, one per row, was this process's own: skipped
    await async_wait_until(lambda: len(service.listener.own_writes) == 0, timeout=2)
    assert service.caches["expenses"].get(amy.id) is not None


async def test_a_row_failing_a_constraint_fails_only_its_own_insert(service, database):
    amy = await service.auto_signup("api", "amy")
    inserts = ExpenseInserts(service.repo)

    def row(category: str, amount: str) -> tuple:
        return (amy.id, Decimal(amount), "USD", category, "", date(2026, 1, 2), "api", None)

    results = await asyncio.gather(
        inserts.insert(row("food", "1")),
        inserts.insert(row("food", "2")),
        inserts.insert(row("no-such-category", "3")),
        inserts.insert(row("transport", "4")),
        return_exceptions=True,
    )
    assert isinstance(results[2], psycopg.errors.ForeignKeyViolation)
    assert [r.amount for r in results if not isinstance(r, Exception)] == [1, 2, 4]
    with psycopg.connect(database.url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM expenses").fetchone()
    assert count == 3


async def test_a_database_fault_fails_every_waiting_insert(service):
    amy = await service.auto_signup("api", "amy")
    inserts = ExpenseInserts(service.repo)
    service.db.schema_ready = False  # every statement now answers DatabaseUnavailable
    try:
        results = await asyncio.gather(
            *(
                inserts.insert((amy.id, Decimal(n), "USD", "food", "", date.today(), "api", None))
                for n in (1, 2, 3)
            ),
            return_exceptions=True,
        )
    finally:
        service.db.schema_ready = True
    assert [type(r).__name__ for r in results] == ["DatabaseUnavailable"] * 3
    assert inserts.statements == 1  # arrived in one turn of the loop: one statement


async def test_a_fault_fails_the_inserts_waiting_behind_it_at_once(database):
    """The statement in flight goes unanswered (the table is locked) past the bound: it
    fails, and so do the inserts that waited for it, without a bound of their own."""
    async with open_service(database.url, statement_timeout_seconds=0.3) as service:
        amy = await service.auto_signup("api", "amy")
        inserts = ExpenseInserts(service.repo)

        def row(n: int) -> tuple:
            return (amy.id, Decimal(n), "USD", "food", "", date.today(), "api", None)

        with psycopg.connect(database.url) as lock:
            lock.execute("LOCK TABLE expenses IN ACCESS EXCLUSIVE MODE")
            first = asyncio.ensure_future(inserts.insert(row(1)))
            await async_wait_until(lambda: inserts.statements == 1, timeout=2)
            behind = [asyncio.ensure_future(inserts.insert(row(n))) for n in (2, 3)]
            results = await asyncio.gather(first, *behind, return_exceptions=True)
            lock.rollback()
        assert [type(r).__name__ for r in results] == ["DatabaseUnavailable"] * 3
        assert inserts.statements == 1  # the two behind it were never sent
