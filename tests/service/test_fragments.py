"""Encoded expense fragments: the same bytes JSONResponse renders, reused only when exact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from starlette.responses import JSONResponse

from aiexpense.domain.models import Expense
from aiexpense.http.api import expense_json, expense_text
from aiexpense.http.fragments import ExpenseFragments, render

TZ = timezone(timedelta(hours=7))


def _expense(n: int, amount: str = "12.50", description: str = 'phở bò "quoted"') -> Expense:
    return Expense(
        n, 3, Decimal(amount), "USD", "food", description, date(2026, 12, 1), "line",
        None if n % 2 else f"m-{n}", datetime(2026, 12, 7, 1, 2, 3, 4567, tzinfo=TZ),
    )  # fmt: skip


@pytest.mark.parametrize(
    "head",
    [
        {"user_id": 3, "limit": 100, "count": 3},
        {"user_id": 3, "from": "2026-12-01", "to": "2026-12-07", "limit": 1000, "count": 3},
        {},
    ],
)
def test_a_page_is_what_json_response_renders(head: dict) -> None:
    expenses = [_expense(1), _expense(2, "0.01", ""), _expense(3, "1200", "x\u2028y")]
    fragments = ExpenseFragments(expense_text, maxsize=10)
    expected = JSONResponse({**head, "expenses": [expense_json(e) for e in expenses]}).body
    assert fragments.page(head, "expenses", expenses) == expected
    assert fragments.page(head, "expenses", expenses) == expected  # from memory now
    assert fragments.page(head, "expenses", []) == JSONResponse({**head, "expenses": []}).body


def test_a_page_from_the_direct_encoder_is_the_same() -> None:
    expenses = [_expense(1), _expense(2, "0.01", ""), _expense(3, "1200", "x\u2028y\n\t\\")]
    fragments = ExpenseFragments(expense_text, maxsize=10)
    expected = JSONResponse({"count": 3, "expenses": [expense_json(e) for e in expenses]}).body
    assert fragments.page({"count": 3}, "expenses", expenses) == expected


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


def test_an_equal_record_with_other_digits_is_encoded_again() -> None:
    fragments = ExpenseFragments(expense_text, maxsize=10)
    assert '"amount":"1.5"' in fragments.fragment(_expense(1, "1.5"))
    assert _expense(1, "1.5") == _expense(1, "1.50")  # equal as values...
    assert '"amount":"1.50"' in fragments.fragment(_expense(1, "1.50"))  # ...not as text
    changed = _expense(1, "1.50", description="lunch")
    assert '"description":"lunch"' in fragments.fragment(changed)


def test_the_oldest_fragments_go_first_past_maxsize() -> None:
    fragments = ExpenseFragments(expense_text, maxsize=2)
    for n in range(5):
        fragments.fragment(_expense(n))
    assert len(fragments) == 2
    with pytest.raises(ValueError):
        ExpenseFragments(expense_text, maxsize=0)
