"""Pages of expenses as JSON, rendered once and reused while their records stay the same.

A person's latest expenses are answered from the same cached records again and again
(``GET /api/expenses``, half of the mixed load); encoding their JSON was most of that
answer's cost (~3 us an expense, 100 a page). ``ExpensePages`` keeps the last page rendered
for each query (``key``) and answers the same query with the same bytes while its records
are the very same objects (the cache's records are immutable: same objects, same JSON), a
check of one pointer per record. When the page changed (a new expense on top, rows loaded
again from the database) each record found in the query's previous page, the same object
or an equal one, keeps its JSON from there; only the others are encoded:

    pages = ExpensePages(expense_text, max_bytes=8 << 20)
    body = pages.page((7, 100), {"user_id": 7, "limit": 100, "count": 2}, "expenses", rows)

The bytes are exactly what ``JSONResponse`` would render for the same dict (same encoder
options, same key order). Two records compare equal when their amounts are equal as
numbers, but ``Decimal("1.5")`` and ``Decimal("1.50")`` print differently: an equal record
keeps its JSON only when its amount has the same digits. The pages' bodies are bounded by
``max_bytes``, the least recently used page going first; each page also holds its records
(for the pointer check), which for the latest expenses are the cache's own.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from operator import is_
from typing import Any, Final, NamedTuple

from ..domain.models import Expense

DEFAULT_BYTES: Final = 8 << 20  # ~26 kB a page of 100: 300 people's latest pages
# JSONResponse.render's options, so a spliced page is byte for byte what it would send.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def render(content: Any) -> bytes:
    """``content`` as ``JSONResponse`` renders it."""
    return _encode(content).encode("utf-8")


class _Page(NamedTuple):
    expenses: tuple[Expense, ...]
    body: bytes
    starts: list[int]  # where each expense's JSON starts in ``body``...
    ends: list[int]  # ...and ends (exclusive)

    def fragment(self, i: int) -> bytes:
        return self.body[self.starts[i] : self.ends[i]]


class ExpensePages:
    """The last page rendered for each query, at most ``max_bytes`` of them."""

    def __init__(self, text: Callable[[Expense], str], max_bytes: int) -> None:
        """``text``: an expense's JSON text, as ``JSONResponse`` renders it (the API's
        ``expense_text``)."""
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self._text = text
        self._max_bytes = max_bytes
        self._pages: OrderedDict[Hashable, _Page] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def size(self) -> int:
        """Bytes of the pages held."""
        return self._bytes

    def clear(self) -> None:
        self._pages.clear()
        self._bytes = 0

    def page(
        self, key: Hashable, head: dict[str, Any], name: str, expenses: Sequence[Expense]
    ) -> bytes:
        """``{**head, name: [each expense's JSON]}`` rendered as ``JSONResponse`` would.

        ``key`` names the query; the same key with the same records must mean the same
        ``head`` (``head`` may hold what follows from the records, such as their count)."""
        rows = tuple(expenses)
        known = self._pages.get(key)
        if (
            known is not None
            and len(known.expenses) == len(rows)
            and all(map(is_, known.expenses, rows))
        ):
            self._pages.move_to_end(key)
            return known.body
        opened = _encode(head)[:-1] + "," if head else "{"
        prefix = f"{opened}{_encode(name)}:[".encode()
        fragments = self._fragments(known, rows)
        starts, ends, at = [], [], len(prefix)
        for fragment in fragments:
            starts.append(at)
            at += len(fragment)
            ends.append(at)
            at += 1  # the comma
        body = prefix + b",".join(fragments) + b"]}"
        self._keep(key, _Page(rows, body, starts, ends))
        return body

    def _fragments(self, known: _Page | None, rows: tuple[Expense, ...]) -> list[bytes]:
        """Each row's JSON: from the previous page when it held the row, else encoded."""
        if known is None:
            return [self._text(e).encode() for e in rows]
        # A page's records are alive while it is held, so their ids name them alone.
        by_id = {id(e): i for i, e in enumerate(known.expenses)}
        by_value: dict[Expense, int] | None = None  # built at the first row not found by id
        out = []
        for e in rows:
            i = by_id.get(id(e))
            if i is None:
                if by_value is None:
                    by_value = {e: i for i, e in enumerate(known.expenses)}
                i = by_value.get(e)
                if i is not None and str(known.expenses[i].amount) != str(e.amount):
                    i = None  # equal as numbers, printed otherwise ("1.5" and "1.50")
            out.append(self._text(e).encode() if i is None else known.fragment(i))
        return out

    def _keep(self, key: Hashable, page: _Page) -> None:
        old = self._pages.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        if len(page.body) > self._max_bytes:
            return
        while self._bytes + len(page.body) > self._max_bytes:
            _, evicted = self._pages.popitem(last=False)
            self._bytes -= len(evicted.body)
        self._pages[key] = page
        self._bytes += len(page.body)
