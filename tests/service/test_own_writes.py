"""Write-through of a process's own writes: the registrations its listener skips
(``OwnWrites``) and the merge of a new row into a cached page (``with_expense``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from aiexpense.domain.models import Expense
from aiexpense.service import RECENT_ROWS, with_expense
from aiexpense.store.invalidation import OwnWrites, announcement, parse


class Clock:
    """A clock the test moves by hand (the registrations' lapse times)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_registered_announcement_is_claimed_once():
    own = OwnWrites(5.0, Clock())
    own.expect(41, "expenses:7")
    assert not own.claim(42, "expenses:7")  # another backend: another process's write
    assert not own.claim(41, "expenses:8")  # another key
    assert own.claim(41, "expenses:7")
    assert not own.claim(41, "expenses:7")  # once: a second write must be applied
    assert (own.skipped, len(own)) == (1, 0)


def test_a_withdrawn_or_lapsed_registration_claims_nothing():
    clock = Clock()
    own = OwnWrites(5.0, clock)
    registered = own.expect(41, "expenses:7")
    own.withdraw(registered)
    own.withdraw(registered)  # twice, or after a clear: no matter
    assert not own.claim(41, "expenses:7")
    own.expect(41, "expenses:7")
    clock.now += 5.0
    assert not own.claim(41, "expenses:7") and len(own) == 0
    own.expect(41, "expenses:7")
    own.expect(41, "expenses:7")  # two writes of one connection, one after the other
    assert own.claim(41, "expenses:7") and own.claim(41, "expenses:7")
    own.expect(41, "expenses:7")
    own.clear()
    assert not own.claim(41, "expenses:7")


def test_the_payload_is_the_triggers():
    assert announcement("expenses", 42) == "expenses:42"
    assert parse(announcement("expenses", 42)) == ("expenses", 42)


def expense(id: int, day: str) -> Expense:
    return Expense(
        id, 1, Decimal("1.00"), "USD", "food", "", date.fromisoformat(day), "api", None,
        datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def ids(page: tuple[Expense, ...]) -> list[int]:
    return [e.id for e in page]


def test_a_new_row_takes_its_place_in_the_page():
    page = (expense(5, "2026-03-01"), expense(3, "2026-02-01"), expense(4, "2026-01-01"))
    assert ids(with_expense(page, expense(9, "2026-04-01"))) == [9, 5, 3, 4]
    assert ids(with_expense(page, expense(6, "2026-02-01"))) == [5, 6, 3, 4]  # id breaks ties
    assert ids(with_expense(page, expense(1, "2026-02-01"))) == [5, 3, 1, 4]
    assert ids(with_expense(page, expense(8, "2025-01-01"))) == [5, 3, 4, 8]  # whole history
    assert with_expense(page, expense(3, "2026-02-01")) is page  # a reload saw it already
    assert ids(with_expense((), expense(1, "2026-02-01"))) == [1]


def test_a_full_page_keeps_its_size():
    full = tuple(expense(1000 - n, "2026-02-01") for n in range(RECENT_ROWS))
    assert with_expense(full, expense(1, "2026-01-01")) is full  # past the last row
    newer = with_expense(full, expense(2000, "2026-02-01"))
    assert len(newer) == RECENT_ROWS and ids(newer)[0] == 2000 and ids(newer)[-1] == 902
