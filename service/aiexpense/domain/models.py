"""The service's records. Frozen, so a cached value can be handed to any caller safely.

Field order matches the column lists in :mod:`aiexpense.store.repository`, so a row
becomes a record with ``User(*row)`` (the cheapest conversion there is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class User:
    id: int
    platform: str  # "api", "line", "telegram", ...
    external_id: str  # the person's id on that platform
    display_name: str | None
    currency: str  # default currency of their expenses
    created_at: datetime
    # Not stored: True when the call that returned this record created the row.
    created: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Expense:
    id: int
    user_id: int
    amount: Decimal  # at the currency's exponent: Decimal("12.50") USD, Decimal("1200") JPY
    currency: str
    category: str  # a category slug
    description: str
    spent_on: date
    platform: str  # where it was recorded: "api" or a messaging platform
    message_id: str | None  # the platform's message id (webhook idempotency), else None
    created_at: datetime
    # Not stored: True when this call inserted the row, False when it returned the row an
    # earlier call with the same (platform, message_id) inserted.
    created: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class CurrencyTotals:
    """One currency's totals over a period (amounts in different currencies never mix)."""

    currency: str
    total: Decimal
    count: int
    by_category: dict[str, Decimal]  # slug -> total, largest first
    by_day: dict[date, Decimal]  # day -> total, in date order; days without spending absent


@dataclass(frozen=True, slots=True)
class Summary:
    """``get_metrics``: a person's spending between two dates, both included."""

    user_id: int
    start: date
    end: date
    currencies: dict[str, CurrencyTotals]
