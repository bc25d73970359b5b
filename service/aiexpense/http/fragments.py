"""Each expense's JSON, encoded once and reused while the expense stays the same.

A person's latest expenses are answered from the same cached records again and again
(``GET /api/expenses``, half of the mixed load); building and encoding their JSON was most
of that answer's cost (~3.3 us per expense; 100 per page). ``ExpenseFragments`` keeps
each expense's encoded object, keyed by the record's value (records are frozen, so equal
records give equal JSON), and splices the fragments into the page:

    fragments = ExpenseFragments(expense_text, maxsize=5_000)
    body = fragments.page({"user_id": 7, "limit": 100, "count": 2}, "expenses", expenses)

The bytes are exactly what ``JSONResponse`` would render for the same dict (same encoder
options, same key order). Two records compare equal when their amounts are equal as
numbers, but ``Decimal("1.5")`` and ``Decimal("1.50")`` print differently: a fragment is
reused only for the same record object or an equal one whose amount has the same digits.
The size is bounded: past ``maxsize`` the oldest fragments go first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Final

from ..domain.models import Expense

DEFAULT_SIZE: Final = 5_000  # ~0.5 kB each (~2.5 MB): the pages of 50 people's latest 100
# JSONResponse.render's options, so a spliced page is byte for byte what it would send.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def render(content: Any) -> bytes:
    """``content`` as ``JSONResponse`` renders it."""
    return _encode(content).encode("utf-8")


class ExpenseFragments:
    """Encoded expenses by value, at most ``maxsize`` of them."""

    def __init__(self, text: Callable[[Expense], str], maxsize: int) -> None:
        """``text``: an expense's JSON text, as ``JSONResponse`` renders it (the API's
        ``expense_text``)."""
        if maxsize < 1:
            raise ValueError(f"maxsize must be positive, got {maxsize}")
        self._text = text
        self._maxsize = maxsize
        self._known: dict[Expense, tuple[Expense, str]] = {}

    def __len__(self) -> int:
        return len(self._known)

    def clear(self) -> None:
        self._known.clear()

    def fragment(self, expense: Expense) -> str:
        """The expense's JSON object (text), from memory when the same expense was seen."""
        known = self._known.get(expense)
        if known is not None:
            seen, text = known
            if seen is expense or str(seen.amount) == str(expense.amount):
                return text
        text = self._text(expense)
        if expense not in self._known and len(self._known) >= self._maxsize:
            del self._known[next(iter(self._known))]  # the oldest
        self._known[expense] = (expense, text)
        return text

    def page(self, head: dict[str, Any], name: str, expenses: Iterable[Expense]) -> bytes:
        """``{**head, name: [each expense's JSON]}`` rendered as ``JSONResponse`` would."""
        items = ",".join([self.fragment(e) for e in expenses])
        opened = _encode(head)[:-1] + "," if head else "{"
        return f"{opened}{_encode(name)}:[{items}]}}".encode()
