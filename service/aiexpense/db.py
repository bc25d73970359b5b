"""One SQL statement on a pooled connection, timed as ``db_query``/``db_insert``/....

Every statement the service's operations send goes through :class:`Database`, so the
timing is written once. The timer covers the statement's round trip and row fetch, not
the wait for a pooled connection: pool waits show separately in the pool's own figures
(``/monitoring/health``), and keeping them apart tells "the database is slow" from "the
pool is too small".
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, LiteralString, TypeVar

from psycopg import AsyncConnection, AsyncCursor
from psycopg_pool import AsyncConnectionPool

from exporter import MetricsCollector

Params = Sequence[Any] | dict[str, Any] | None
T = TypeVar("T")


class Statements:
    """``fetch_one``, ``fetch_all`` and ``execute`` over a subclass's ``_run``: what the
    repository needs, from a :class:`Database` or a :class:`Transaction` alike."""

    async def fetch_one(self, op: str, sql: LiteralString, params: Params = None) -> tuple | None:
        """The first row of ``sql``'s result, or None."""
        return await self._run(op, sql, params, AsyncCursor.fetchone)

    async def fetch_all(self, op: str, sql: LiteralString, params: Params = None) -> list[tuple]:
        """Every row of ``sql``'s result."""
        return await self._run(op, sql, params, AsyncCursor.fetchall)

    async def execute(self, op: str, sql: LiteralString, params: Params = None) -> int:
        """Run ``sql``; return the number of rows it touched."""
        return await self._run(op, sql, params, _rowcount)

    async def _run(
        self,
        op: str,
        sql: LiteralString,
        params: Params,
        fetch: Callable[[AsyncCursor], Awaitable[T]],
    ) -> T:
        raise NotImplementedError


class Database(Statements):
    """Runs single statements, each in its own implicit transaction (autocommit), or,
    inside :meth:`transaction`, several statements as one transaction."""

    def __init__(self, pool: AsyncConnectionPool, collector: MetricsCollector) -> None:
        self.pool = pool
        self._collector = collector

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Statements that run as one transaction on one connection: committed when the
        block ends, rolled back if it raises."""
        async with self.pool.connection() as conn:
            await _autocommit(conn)  # so BEGIN/COMMIT are ours, explicit
            async with conn.transaction():
                yield Transaction(self, conn)

    async def _run(
        self,
        op: str,
        sql: LiteralString,
        params: Params,
        fetch: Callable[[AsyncCursor], Awaitable[T]],
        conn: AsyncConnection | None = None,
    ) -> T:
        """``sql`` on ``conn`` (a transaction's), or on a pooled connection of its own."""
        if conn is not None:
            return await self._timed(conn, op, sql, params, fetch)
        async with self.pool.connection() as pooled:
            await _autocommit(pooled)
            return await self._timed(pooled, op, sql, params, fetch)

    async def _timed(
        self,
        conn: AsyncConnection,
        op: str,
        sql: LiteralString,
        params: Params,
        fetch: Callable[[AsyncCursor], Awaitable[T]],
    ) -> T:
        with self._collector.time(op):
            return await fetch(await conn.execute(sql, params))


class Transaction(Statements):
    """The statements of one transaction (see :meth:`Database.transaction`), timed as the
    database's are."""

    def __init__(self, db: Database, conn: AsyncConnection) -> None:
        self._db = db
        self._conn = conn

    async def _run(
        self,
        op: str,
        sql: LiteralString,
        params: Params,
        fetch: Callable[[AsyncCursor], Awaitable[T]],
    ) -> T:
        return await self._db._run(op, sql, params, fetch, self._conn)


async def _rowcount(cur: AsyncCursor) -> int:
    return cur.rowcount


async def _autocommit(conn: AsyncConnection) -> None:
    # A single statement needs no explicit transaction. Without autocommit psycopg would
    # send BEGIN before it and the pool a COMMIT after it: three round trips instead of
    # one. Switching is free (no I/O) and sticks to the pooled connection, so after the
    # first checkout this is one attribute read.
    if not conn.autocommit:
        await conn.set_autocommit(True)
