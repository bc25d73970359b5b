"""New expenses of concurrent requests inserted together: one statement, one commit.

    inserts = ExpenseInserts(repo, max_rows=64)
    expense = await inserts.insert(row)   # the row's columns, as Repository.insert_expense

Why: every commit that inserts an expense sends the NOTIFY that keeps other replicas'
caches true (migration 6), and PostgreSQL serializes such commits on its notification
queue lock, each with a WAL flush of its own (no group commit). Under load the creates
then queue for pooled connections held through those flushes. Here the first insert is
sent at once; those arriving while it runs wait for it and go together as the next
statement (at most ``max_rows``): one commit, one flush, one notification per person.
Durability is unchanged: each caller is answered only after its row has committed.

All or nothing per statement: when it fails for a reason of the rows (a constraint), each
row of it is tried again on its own, so one bad row fails only its own request; a fault of
the database fails them all, and those waiting behind them (as it would have failed each,
within the same bound: not one bound after another). Only rows without a message id
come here (they cannot conflict); the statement runs in a task of its own, so a caller
that goes away does not cancel the others' statement.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..domain.models import Expense
from .db import DATABASE_FAULTS
from .repository import Repository

Row = tuple[Any, ...]


class ExpenseInserts:
    """Coalesces concurrent inserts of expenses (runs on one event loop: no lock)."""

    def __init__(self, repo: Repository, *, max_rows: int = 64) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be positive, got {max_rows}")
        self.repo = repo
        self.max_rows = max_rows
        self.statements = 0  # sent since start (tests, benchmarks)
        self._waiting: list[tuple[Row, asyncio.Future[Expense]]] = []
        self._running: asyncio.Task[None] | None = None

    async def insert(self, row: Row) -> Expense:
        """Insert one expense (``row[7]``, the message id, None); its new record."""
        future: asyncio.Future[Expense] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._running is None:
            self._running = asyncio.create_task(self._drain(), name="expense-inserts")
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self.max_rows]
                del self._waiting[: self.max_rows]
                await self._send(batch)
        finally:
            self._running = None

    async def _send(self, batch: list[tuple[Row, asyncio.Future[Expense]]]) -> None:
        try:
            await self._insert(batch)
        except BaseException:  # cancelled (shutting down): nobody may wait forever
            for _, future in batch:
                future.cancel()
            raise

    async def _insert(self, batch: list[tuple[Row, asyncio.Future[Expense]]]) -> None:
        self.statements += 1
        try:
            if len(batch) == 1:
                made = [await self.repo.insert_expense(*batch[0][0])]
            else:
                made = list(await self.repo.insert_expenses([row for row, _ in batch]))
        except DATABASE_FAULTS as exc:
            # Those that arrived meanwhile fail too, now: sent next, each would wait out
            # another bound before its 503 (README: a request needing the database is
            # answered within max(pool timeout, statement timeout + 0.5 s)).
            failed, self._waiting = [*batch, *self._waiting], []
            for _, future in failed:
                _settle(future, exc=exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc=exc)
            else:  # a row's fault: each on its own
                await asyncio.gather(*(self._send([one]) for one in batch))
            return
        for (_, future), expense in zip(batch, made, strict=True):
            if expense is None:  # no message id: cannot conflict
                _settle(future, exc=RuntimeError("an expense without a message id conflicted"))
            else:
                _settle(future, expense)


def _settle(
    future: asyncio.Future[Expense],
    result: Expense | None = None,
    *,
    exc: BaseException | None = None,
) -> None:
    if future.done():  # its caller went away
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
