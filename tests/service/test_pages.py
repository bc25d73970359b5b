"""Rendered pages of expenses: the same bytes JSONResponse renders, reused only when exact."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from starlette.responses import JSONResponse

from aiexpense.domain.models import Expense
from aiexpense.http.api import expense_json, expense_text
from aiexpense.http.pages import RECORD_BYTES, ExpensePages, render

TZ = timezone(timedelta(hours=7))


def _expense(n: int, amount: str = "12.50", description: str = 'phở bò "quoted"') -> Expense:
    return Expense(
        n, 3, Decimal(amount), "USD", "food", description, date(2026, 12, 1), "line",
        None if n % 2 else f"m-{n}", datetime(2026, 12, 7, 1, 2, 3, 4567, tzinfo=TZ),
    )  # fmt: skip


class Counting:
    """``expense_text`` that counts its calls: which expenses a page encoded anew."""

    def __init__(self) -> None:
        self.encoded: list[int] = []

    def __call__(self, e: Expense) -> str:
        self.encoded.append(e.id)
        return expense_text(e)


def _expected(head: dict, expenses: list[Expense]) -> bytes:
    return JSONResponse({**head, "expenses": [expense_json(e) for e in expenses]}).body


@pytest.mark.parametrize(
    "head",
    [
        {"user_id": 3, "limit": 100, "count": 3},
        {"user_id": 3, "from": "2026-12-01", "to": "2026-12-07", "limit": 1000, "count": 3},
        {},
    ],
)
def test_a_page_is_what_json_response_renders(head: dict) -> None:
    expenses = [_expense(1), _expense(2, "0.01", ""), _expense(3, "1200", "x\u2028y\n\t\\")]
    pages = ExpensePages(expense_text, max_bytes=1 << 20)
    assert pages.page("q", head, "expenses", expenses) == _expected(head, expenses)
    assert pages.page("q", head, "expenses", expenses) == _expected(head, expenses)  # reused
    assert pages.page("q", head, "expenses", []) == JSONResponse({**head, "expenses": []}).body


def test_the_same_records_get_the_same_page_without_encoding() -> None:
    text, expenses = Counting(), [_expense(n) for n in range(1, 4)]
    pages = ExpensePages(text, max_bytes=1 << 20)
    first = pages.page("q", {"count": 3}, "expenses", expenses)
    assert text.encoded == [1, 2, 3]
    assert pages.page("q", {"count": 3}, "expenses", list(expenses)) is first
    assert text.encoded == [1, 2, 3]


def test_a_new_expense_on_top_is_the_only_one_encoded() -> None:
    text, expenses = Counting(), [_expense(n) for n in range(1, 4)]
    pages = ExpensePages(text, max_bytes=1 << 20)
    pages.page("q", {"count": 3}, "expenses", expenses)
    newer = [_expense(9), *expenses[:2]]  # the oldest fell off the page
    assert pages.page("q", {"count": 3}, "expenses", newer) == _expected({"count": 3}, newer)
    assert text.encoded == [1, 2, 3, 9]


def test_rows_loaded_again_keep_their_json_by_value() -> None:
    text, expenses = Counting(), [_expense(n) for n in range(1, 4)]
    pages = ExpensePages(text, max_bytes=1 << 20)
    pages.page("q", {}, "expenses", expenses)
    again = [_expense(n) for n in range(1, 4)]  # equal records, other objects
    assert pages.page("q", {}, "expenses", again) == _expected({}, again)
    assert text.encoded == [1, 2, 3]


def test_a_changed_record_or_other_digits_is_encoded_again() -> None:
    text = Counting()
    pages = ExpensePages(text, max_bytes=1 << 20)
    pages.page("q", {}, "expenses", [_expense(1, "1.5"), _expense(2)])
    assert _expense(1, "1.5") == _expense(1, "1.50")  # equal as values...
    other_digits = [_expense(1, "1.50"), _expense(2, description="lunch")]
    body = pages.page("q", {}, "expenses", other_digits)
    assert b'"amount":"1.50"' in body and b'"description":"lunch"' in body  # ...not as text
    assert body == _expected({}, other_digits)
    assert text.encoded == [1, 2, 1, 2]


def test_queries_are_kept_apart() -> None:
    pages = ExpensePages(expense_text, max_bytes=1 << 20)
    a, b = [_expense(1)], [_expense(2)]
    pages.page(("latest", 3), {"limit": 1}, "expenses", a)
    pages.page(("latest", 4), {"limit": 1}, "expenses", b)
    assert pages.page(("latest", 3), {"limit": 1}, "expenses", a) == _expected({"limit": 1}, a)
    assert len(pages) == 2


def _cost(expenses: list[Expense]) -> int:
    """What a page of ``expenses`` counts against ``max_bytes``."""
    pages = ExpensePages(expense_text)
    pages.page(0, {}, "expenses", expenses)
    return pages.size


def test_the_least_recently_used_pages_go_first_past_max_bytes() -> None:
    one = _cost([_expense(1)])
    assert one == len(_expected({}, [_expense(1)])) + RECORD_BYTES  # its body and its record
    text, row = Counting(), [_expense(1)]
    pages = ExpensePages(text, max_bytes=2 * one)
    for key in "aba":  # "a" used again: "b" is now the oldest
        pages.page(key, {}, "expenses", row)
    pages.page("c", {}, "expenses", [_expense(3)])  # the same size as the others
    assert len(pages) == 2 and pages.size == 2 * one
    del text.encoded[:]
    pages.page("a", {}, "expenses", row)
    pages.page("b", {}, "expenses", row)
    assert text.encoded == [1]  # "a" was kept, "b" was not
    pages.page("big", {}, "expenses", [_expense(n) for n in range(10)])  # over the bound
    assert len(pages) == 2 and pages.size <= 2 * one
    with pytest.raises(ValueError):
        ExpensePages(expense_text, max_bytes=0)
    with pytest.raises(ValueError):
        ExpensePages(expense_text, max_idle=0)


def test_pages_not_asked_for_max_idle_seconds_are_dropped() -> None:
    now = [100.0]
    text = Counting()
    pages = ExpensePages(text, max_idle=10.0, clock=lambda: now[0])
    a, b = [_expense(1)], [_expense(2)]
    pages.page("a", {}, "expenses", a)
    now[0] += 6
    pages.page("b", {}, "expenses", b)
    now[0] += 6  # "a" idle 12 s, "b" 6 s
    pages.page("b", {}, "expenses", b)
    assert len(pages) == 1 and pages.size == _cost(b)
    pages.page("a", {}, "expenses", a)
    assert text.encoded == [1, 2, 1]  # "a" rendered again, "b" reused


def _loaded(n: int) -> Expense:
    """An expense as psycopg builds it: every field its own object, none shared."""
    fresh = "".join  # a new str each call, as a row's text columns are
    return Expense(
        10**6 + n, 10**6, Decimal(f"{n}.25"), fresh(["US", "D"]), fresh(["fo", "od"]),
        fresh(["lunch ", str(n)]), date(2026, 12, 1) + timedelta(days=n % 5),
        fresh(["ap", "i"]), None, datetime(2026, 12, 7, 1, 2, n % 60, n, tzinfo=TZ),
    )  # fmt: skip


def test_max_bytes_counts_what_a_page_of_loaded_records_holds() -> None:
    """RECORD_BYTES is the memory of a record loaded from the database: a page whose
    records the cache has let go holds them alone, and that is what the bound must count."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        pages = ExpensePages(expense_text)
        pages.page(0, {"count": 100}, "expenses", [_loaded(n) for n in range(100)])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0.8 * held <= pages.size <= 1.25 * held, (held, pages.size)


@pytest.mark.parametrize(
    "expense",
    [
        _expense(1),
        _expense(2, "0.01", ""),
        _expense(3, "1200", 'x\u2028y \x00\x1f"\\/ é 漢字 \U0001f600'),
        _expense(4, "1E+3", "tab\there"),
        Expense(
            9**12,
            2**40,
            Decimal("999999999999.999"),
            "KWD",
            "a-b_c",
            "d",
            date(1, 1, 1),
            "tele_gram",
            'm"#1',
            datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC),
        ),
    ],
)
def test_the_direct_encoder_writes_what_json_response_renders(expense: Expense) -> None:
    assert expense_text(expense).encode() == render(expense_json(expense))
    assert expense_text(expense).encode() == JSONResponse(expense_json(expense)).body
