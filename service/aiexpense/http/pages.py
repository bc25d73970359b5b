"""Pages of expenses as JSON, rendered once and reused while their records stay the same.

A person's latest expenses are answered from the same cached records again and again
(``GET /api/expenses``, half of the mixed load); encoding their JSON was most of that
answer's cost (~3 us an expense, 100 a page). ``ExpensePages`` keeps the last page rendered
for each query (``key``) and answers the same query with the same bytes while its records
are the very same objects (the cache's records are immutable: same objects, same JSON), a
check of one pointer per record. When the page changed (a new expense on top, rows loaded
again from the database) each record found in the query's previous page, the same object
or an equal one, keeps its JSON from there; only the others are encoded:

    pages = ExpensePages(expense_text, max_bytes=16 << 20, max_idle=10.0)
    body = pages.page((7, 100), {"user_id": 7, "limit": 100, "count": 2}, "expenses", rows)

The bytes are exactly what ``JSONResponse`` would render for the same dict (same encoder
options, same key order). Two records compare equal when their amounts are equal as
numbers, but ``Decimal("1.5")`` and ``Decimal("1.50")`` print differently: an equal record
keeps its JSON only when its amount has the same digits.

Memory: each page holds its body and its records (for the pointer check). While a query is
asked, its records are the cache's own; a page outliving its cache entry would keep them
alive by itself, about three times its body (a record loaded from the database is ~640
bytes, its JSON ~230). So pages are bounded twice: by ``max_bytes`` counting each body and
:data:`RECORD_BYTES` a record, the least recently used page going first, and by
``max_idle``: a page not asked for that long is dropped (checked at most once a second, at
the next page asked for).
"""

from __future__ import annotations

import json
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from operator import is_
from typing import Any, Final

from ..domain.models import Expense

DEFAULT_BYTES: Final = 16 << 20  # ~90 kB a page of 100: 180 queries' pages
DEFAULT_IDLE: Final = 10.0  # seconds, as long as the cache keeps a person's latest expenses
RECORD_BYTES: Final = 640  # a record as loaded from the database (test_pages measures it)
_SWEEP_EVERY: Final = 1.0  # seconds between looks for idle pages
# JSONResponse.render's options, so a spliced page is byte for byte what it would send.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def render(content: Any) -> bytes:
    """``content`` as ``JSONResponse`` renders it."""
    return _encode(content).encode("utf-8")


class _Page:
    __slots__ = ("body", "cost", "ends", "expenses", "first", "used")

    def __init__(self, expenses: tuple[Expense, ...], body: bytes, first: int, used: float):
        self.expenses = expenses
        self.body = body
        self.first = first  # where the first expense's JSON starts in ``body``
        self.ends = array("L")  # where each expense's JSON ends (exclusive); a comma follows
        self.cost = len(body) + RECORD_BYTES * len(expenses)
        self.used = used

    def fragment(self, i: int) -> bytes:
        return self.body[self.ends[i - 1] + 1 if i else self.first : self.ends[i]]


class ExpensePages:
    """The last page rendered for each query: at most ``max_bytes`` of them (bodies and
    records), none unasked for ``max_idle`` seconds."""

    def __init__(
        self,
        text: Callable[[Expense], str],
        max_bytes: int = DEFAULT_BYTES,
        max_idle: float = DEFAULT_IDLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``text``: an expense's JSON text, as ``JSONResponse`` renders it (the API's
        ``expense_text``); ``clock``: seconds, for ``max_idle``."""
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if not max_idle > 0:
            raise ValueError(f"max_idle must be positive, got {max_idle}")
        self._text = text
        self._max_bytes = max_bytes
        self._max_idle = max_idle
        self._clock = clock
        self._pages: OrderedDict[Hashable, _Page] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._next_sweep = clock() + _SWEEP_EVERY

    def __len__(self) -> int:
        return len(self._pages)

    @property
    def size(self) -> int:
        """Bytes the pages hold: their bodies and :data:`RECORD_BYTES` a record."""
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
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        known = self._pages.get(key)
        if (
            known is not None
            and len(known.expenses) == len(rows)
            and all(map(is_, known.expenses, rows))
        ):
            known.used = now
            self._pages.move_to_end(key)
            return known.body
        opened = _encode(head)[:-1] + "," if head else "{"
        prefix = f"{opened}{_encode(name)}:[".encode()
        fragments = self._fragments(known, rows)
        body = prefix + b",".join(fragments) + b"]}"
        page = _Page(rows, body, len(prefix), now)
        at = len(prefix) - 1
        for fragment in fragments:
            at += len(fragment) + 1  # (the comma before it, or the prefix's last byte)
            page.ends.append(at)
        self._keep(key, page)
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
            self._bytes -= old.cost
        if page.cost > self._max_bytes:
            return
        while self._bytes + page.cost > self._max_bytes:
            self._bytes -= self._pages.popitem(last=False)[1].cost
        self._pages[key] = page
        self._bytes += page.cost

    def _sweep(self, now: float) -> None:
        """Drop the pages not asked for ``max_idle`` seconds: the oldest come first."""
        self._next_sweep = now + _SWEEP_EVERY
        stale = now - self._max_idle
        while self._pages:
            key, page = next(iter(self._pages.items()))
            if page.used > stale:
                break
            del self._pages[key]
            self._bytes -= page.cost
