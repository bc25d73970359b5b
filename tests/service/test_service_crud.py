"""The expense service against a real PostgreSQL: schema, users, expenses, summaries."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from aiexpense import InvalidField, NotFound
from aiexpense.domain.operations import Op
from aiexpense.service import operation
from aiexpense.store.migrations import MIGRATIONS, migrate
from aiexpense.text.lexicon import CATEGORIES
from exporter import MetricsCollector
from tests.service.helpers import op_count, open_service, scalar

D = Decimal


@pytest.fixture
async def service(database):
    async with open_service(database.url, default_currency="TWD") as svc:
        yield svc


async def test_migrations_run_once_under_concurrent_starts(database):
    pools = [
        AsyncConnectionPool(database.url, min_size=1, max_size=1, open=False) for _ in range(4)
    ]
    for pool in pools:
        await pool.open(wait=True)
    try:
        results = await asyncio.gather(*(migrate(pool) for pool in pools))
        assert sorted(v for r in results for v in r) == [m.version for m in MIGRATIONS]
        assert await migrate(pools[0]) == []  # nothing left to do
    finally:
        for pool in pools:
            await pool.close()
    assert scalar(database.url, "SELECT count(*) FROM schema_migrations") == len(MIGRATIONS)
    assert scalar(database.url, "SELECT count(*) FROM categories") == len(CATEGORIES)


async def test_categories_are_seeded_from_the_lexicon(service):
    categories = await service.list_categories()
    assert [c.slug for c in categories] == [c.slug for c in CATEGORIES]
    food = await service.category_lookup("food")
    assert food is not None and food.keywords == CATEGORIES[0].keywords
    assert any("\u4e00" <= ch <= "\u9fff" for kw in food.keywords for ch in kw)  # Chinese kept
    assert await service.category_lookup("rocketry") is None


async def test_auto_signup_user_exists_and_get_user(service):
    assert not await service.user_exists("line", "U1")
    amy = await service.auto_signup("line", "U1", display_name="Amy")
    assert amy.created and amy.platform == "line" and amy.currency == "TWD"
    again = await service.auto_signup("line", "U1", display_name="ignored")
    assert again.id == amy.id and not again.created and again.display_name == "Amy"
    assert await service.user_exists("line", "U1")
    assert not await service.user_exists("telegram", "U1")  # unique per platform
    assert (await service.get_user(amy.id)).external_id == "U1"
    assert await service.get_user(amy.id + 1000) is None
    usd = await service.auto_signup("api", "bob", currency="usd")
    assert usd.currency == "USD"
    with pytest.raises(InvalidField) as err:
        await service.auto_signup("api", "carol", currency="XYZ")
    assert err.value.field == "currency"


async def test_create_expense_keeps_amounts_exact_in_each_currency(service):
    user = await service.auto_signup("api", "amy", currency="USD")
    usd = await service.create_expense(user.id, "12.5", category="food", spent_on="2024-03-01")
    jpy = await service.create_expense(user.id, 1200, currency="JPY", spent_on=date(2024, 3, 2))
    kwd = await service.create_expense(user.id, D("1.25"), currency="KWD", spent_on="2024-03-03")
    assert (str(usd.amount), usd.currency, usd.category) == ("12.50", "USD", "food")
    assert (str(jpy.amount), jpy.category) == ("1200", "other")
    assert str(kwd.amount) == "1.250"
    assert usd.created and usd.platform == "api" and usd.message_id is None
    # read back through the database (and the cache) unchanged
    latest = await service.get_expenses(user.id)
    assert [str(e.amount) for e in latest] == ["1.250", "1200", "12.50"]
    for bad, field in [
        (dict(amount="12.345"), "amount"),  # USD has 2 decimal places
        (dict(amount="1.5", currency="JPY"), "amount"),
        (dict(amount="0"), "amount"),
        (dict(amount="-3"), "amount"),
        (dict(amount=1.5), "amount"),  # floats are refused: they may already be inexact
        (dict(amount="1", currency="ABC"), "currency"),
        (dict(amount="1", category="rocketry"), "category"),
        (dict(amount="1", spent_on="2024-02-30"), "spent_on"),
        (dict(amount="1", description="x" * 501), "description"),
    ]:
        with pytest.raises(InvalidField) as err:
            await service.create_expense(user.id, **bad)
        assert err.value.field == field, bad
    with pytest.raises(NotFound) as err:
        await service.create_expense(user.id + 99, "1")
    assert err.value.field == "user_id"
    assert scalar(service.settings.database_url, "SELECT count(*) FROM expenses") == 3


async def test_message_id_makes_create_expense_idempotent(service):
    user = await service.auto_signup("line", "U9")
    results = await asyncio.gather(
        *(
            service.create_expense(user.id, "80", platform="line", message_id="msg-1")
            for _ in range(20)
        )
    )
    assert len({e.id for e in results}) == 1
    assert sum(e.created for e in results) == 1
    other = await service.create_expense(user.id, "80", platform="telegram", message_id="msg-1")
    assert other.created  # message ids are unique per platform only
    url = service.settings.database_url
    assert scalar(url, "SELECT count(*) FROM expenses WHERE message_id = 'msg-1'") == 2


async def test_latest_expenses_order_and_limits(service):
    user = await service.auto_signup("api", "many")
    start = date(2024, 1, 1)
    for i in range(150):
        await service.create_expense(user.id, i + 1, spent_on=start + timedelta(days=i))
    latest = await service.get_expenses(user.id)
    assert len(latest) == 100
    assert latest[0].spent_on == start + timedelta(days=149)
    assert [e.spent_on for e in latest] == sorted((e.spent_on for e in latest), reverse=True)
    assert len(await service.get_expenses(user.id, limit=10)) == 10
    everything = await service.get_expenses(user.id, limit=1000)  # beyond the cached rows
    assert len(everything) == 150 and everything[-1].spent_on == start
    with pytest.raises(InvalidField):
        await service.get_expenses(user.id, limit=1001)
    with pytest.raises(NotFound):
        await service.get_expenses(user.id + 1)


async def test_date_range_and_summary_have_exact_sums(service):
    user = await service.auto_signup("api", "sums", currency="USD")
    # 0.10 ten times: a float sum would give 0.9999999999999999
    for _ in range(10):
        await service.create_expense(user.id, "0.10", category="food", spent_on="2024-05-01")
    await service.create_expense(user.id, "0.20", category="transport", spent_on="2024-05-02")
    await service.create_expense(user.id, "19.99", category="food", spent_on="2024-05-31")
    await service.create_expense(user.id, "500", currency="JPY", spent_on="2024-05-02")
    await service.create_expense(user.id, "99", category="food", spent_on="2024-06-01")  # outside

    in_may = await service.get_expenses_by_date_range(user.id, "2024-05-01", "2024-05-31")
    assert len(in_may) == 13  # both ends included
    assert {e.spent_on for e in in_may} == {date(2024, 5, d) for d in (1, 2, 31)}
    one_day = await service.get_expenses_by_date_range(user.id, date(2024, 5, 2), date(2024, 5, 2))
    assert len(one_day) == 2

    summary = await service.get_metrics(user.id, "2024-05-01", "2024-05-31")
    assert set(summary.currencies) == {"USD", "JPY"}
    usd = summary.currencies["USD"]
    assert usd.total == D("21.19") and str(usd.total) == "21.19"
    assert usd.count == 12
    assert usd.by_category == {"food": D("20.99"), "transport": D("0.20")}
    assert list(usd.by_category) == ["food", "transport"]  # largest first
    assert usd.by_day == {
        date(2024, 5, 1): D("1.00"),
        date(2024, 5, 2): D("0.20"),
        date(2024, 5, 31): D("19.99"),
    }
    assert str(summary.currencies["JPY"].total) == "500"
    assert sum(usd.by_category.values()) == usd.total == sum(usd.by_day.values())

    empty = await service.get_metrics(user.id, "2020-01-01", "2020-12-31")
    assert empty.currencies == {}
    default = await service.get_metrics(user.id)
    assert (default.end - default.start).days == 29
    with pytest.raises(InvalidField) as err:
        await service.get_metrics(user.id, "2024-06-01", "2024-05-01")
    assert err.value.field == "from"
    with pytest.raises(InvalidField):
        await service.get_expenses_by_date_range(user.id, "2024-06-01", "2024-05-01")


async def test_update_and_delete(service):
    amy = await service.auto_signup("api", "amy", currency="USD")
    bob = await service.auto_signup("api", "bob", currency="USD")
    e = await service.create_expense(amy.id, "12.50", category="food", description="lunch")
    changed = await service.update_expense(e.id, description="team lunch", category="travel")
    assert (changed.description, changed.category, changed.amount) == (
        "team lunch",
        "travel",
        e.amount,
    )
    assert str((await service.update_expense(e.id, amount="13")).amount) == "13.00"
    # 13.00 USD -> JPY is exact: the amount is rewritten at the yen's exponent
    assert str((await service.update_expense(e.id, currency="JPY")).amount) == "13"
    with pytest.raises(InvalidField) as err:
        await service.update_expense(e.id, amount="13.5")  # yen have no decimals
    assert err.value.field == "amount"
    back = await service.update_expense(e.id, amount="13.55", currency="USD")
    assert str(back.amount) == "13.55"
    with pytest.raises(InvalidField) as err:
        await service.update_expense(e.id, currency="JPY")  # 13.55 cannot become yen
    assert err.value.field == "currency"
    with pytest.raises(InvalidField) as err:
        await service.update_expense(e.id)
    assert err.value.field == "body"
    with pytest.raises(NotFound):  # scoped to another person
        await service.update_expense(e.id, user_id=bob.id, description="mine now")
    with pytest.raises(NotFound):
        await service.delete_expense(e.id, user_id=bob.id)
    gone = await service.delete_expense(e.id, user_id=amy.id)
    assert gone.id == e.id and str(gone.amount) == "13.55"
    with pytest.raises(NotFound) as err:
        await service.delete_expense(e.id)
    assert err.value.field == "expense_id"
    with pytest.raises(NotFound):
        await service.update_expense(e.id, description="too late")


async def test_caller_mistakes_are_not_operation_errors(service):
    user = await service.auto_signup("api", "amy")
    for _ in range(3):
        with pytest.raises(NotFound):
            await service.create_expense(user.id + 5, "1")
        with pytest.raises(InvalidField):
            await service.create_expense(user.id, "-1")
    stats = service.collector.get(Op.CREATE_EXPENSE)
    assert (stats.count, stats.errors) == (6, 0)
    assert op_count(service, Op.DB_INSERT) == 1  # only the sign-up reached the database


async def test_an_operation_records_each_call_once_a_failure_as_an_error():
    waiting = asyncio.Event()

    class Worker:  # what the decorator needs of the service: its collector
        collector = MetricsCollector(CollectorRegistry(), process_metrics=False)

        @operation("work")
        async def work(self, outcome: str) -> str:
            if outcome == "mistake":
                raise InvalidField("amount", "must be positive")
            if outcome == "failure":
                raise OSError("the database went away")
            if outcome == "slow":
                waiting.set()
                await asyncio.sleep(60)
            return outcome

    worker = Worker()
    assert await worker.work("done") == "done"
    for outcome, raised in (("mistake", InvalidField), ("failure", OSError)):
        with pytest.raises(raised):
            await worker.work(outcome)
    slow = asyncio.create_task(worker.work("slow"))
    await waiting.wait()  # inside the timed call
    slow.cancel()  # the caller gave up: nothing failed
    with pytest.raises(asyncio.CancelledError):
        await slow
    stats = Worker.collector.get("work")
    assert (stats.count, stats.errors) == (4, 1)


async def test_category_is_suggested_when_omitted(service):
    user = await service.auto_signup("api", "suggest-me")
    coffee = await service.create_expense(user.id, "55", description="coffee")
    assert coffee.category == "food"  # the keyword lexicon
    bare = await service.create_expense(user.id, "10")
    assert bare.category == "other"  # nothing to go on
    await service.create_expense(user.id, "300", description="Lotus", category="groceries")
    again = await service.create_expense(user.id, "280", description="lotus")
    assert again.category == "groceries"  # the person's own history beats the lexicon
    assert op_count(service, Op.SUGGEST_CATEGORY) == 2
