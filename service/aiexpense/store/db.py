"""One SQL statement on a pooled connection, timed as ``db_query``/``db_insert``/....

Every statement the service's operations send goes through :class:`Database`, so the
timing is written once. The timer covers the statement's round trip and row fetch, not
the wait for a pooled connection: pool waits show separately in the pool's own figures
(``/monitoring/health``), and keeping them apart tells "the database is slow" from "the
pool is too small".

Two guards make a database fault a quick :class:`DatabaseUnavailable` rather than a hang or
a confusing SQL error: no statement runs before the schema is migrated (``schema_ready``),
and a statement the server has not answered within ``answer_timeout`` seconds fails. The
server's own ``statement_timeout`` normally fires first (the connection stays usable); the
client-side bound is for a server that cannot answer at all (stopped, frozen host).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, LiteralString, TypeVar

import psycopg
from psycopg import AsyncConnection, AsyncCursor, OperationalError
from psycopg_pool import AsyncConnectionPool

from exporter import Recorder

from ..domain.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from .invalidation import OwnWrites

Params = Sequence[Any] | dict[str, Any] | None
Row = tuple[Any, ...]
T = TypeVar("T")


# What counts as the database failing (an outage, answered 503), not as a bug of ours.
DATABASE_FAULTS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,  # also psycopg_pool's PoolTimeout, PoolClosed, TooManyRequests
    psycopg.errors.ReadOnlySqlTransaction,
    psycopg.errors.InsufficientPrivilege,  # a role without a grant: the deployment's fault
    DatabaseUnavailable,
)


class Statements:
    """``fetch_one``, ``fetch_all`` and ``execute``, over a subclass's ``_run``."""

    async def fetch_one(self, op: str, sql: LiteralString, params: Params = None) -> Row | None:
        """The first row of ``sql``'s result, or None."""
        return await self._run(op, sql, params, AsyncCursor.fetchone)

    async def fetch_all(self, op: str, sql: LiteralString, params: Params = None) -> list[Row]:
        """Every row of ``sql``'s result."""
        return await self._run(op, sql, params, AsyncCursor.fetchall)

    async def execute(self, op: str, sql: LiteralString, params: Params = None) -> int:
        """Run ``sql``; return the number of rows it touched."""
        return await self._run(op, sql, params, _rowcount)

    async def fetch_announced(
        self, op: str, sql: LiteralString, params: Params, payload: str
    ) -> Row | None:
        """:meth:`fetch_one` of a write whose trigger announces ``payload`` at commit when
        it returns a row. Inside a transaction as ``fetch_one`` (the announcement comes at
        COMMIT: nothing is registered); :class:`Database` registers it with its
        :class:`~.invalidation.OwnWrites`, so the writer's listener skips the echo."""
        rows = await self.fetch_all_announced(op, sql, params, (payload,))
        return rows[0] if rows else None

    async def fetch_all_announced(
        self, op: str, sql: LiteralString, params: Params, payloads: Collection[str]
    ) -> list[Row]:
        """:meth:`fetch_all` of a write announcing ``payloads`` (see :meth:`fetch_announced`)."""
        return await self.fetch_all(op, sql, params)

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

    def __init__(
        self,
        pool: AsyncConnectionPool,
        collector: Recorder,
        *,
        answer_timeout: float | None = None,
    ) -> None:
        """``answer_timeout``: seconds a statement may go unanswered (None: no bound)."""
        self.pool = pool
        self.answer_timeout = answer_timeout
        self.schema_ready = False  # set once migrations have run (ExpenseService.prepare)
        self._collector = collector
        self._sweeping: asyncio.Task[None] | None = None
        self._in_flight: dict[AsyncConnection, float] = {}  # statement deadlines (loop time)
        self._severed: set[AsyncConnection] = set()
        self._watch: asyncio.TimerHandle | None = None
        # Where announced writes are registered (the cache listener's); None: nowhere.
        self.own_writes: OwnWrites | None = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Statements that run as one transaction on one connection: committed when the
        block ends, rolled back if it raises.

        Every round trip is bounded like a single statement: BEGIN, each statement, and
        COMMIT or ROLLBACK (psycopg's own ``conn.transaction()`` sends BEGIN and COMMIT past
        our bound, so a frozen server held a keyed POST for as long as it stayed frozen).
        """
        if not self.schema_ready:
            raise DatabaseUnavailable("the database schema is not ready: migrations have not run")
        try:
            async with self.pool.connection() as conn:
                await autocommit(conn)  # so BEGIN/COMMIT are ours, explicit
                await self._control(conn, "BEGIN")
                try:
                    yield Transaction(self, conn)
                except BaseException:
                    await self._roll_back(conn)
                    raise
                await self._control(conn, "COMMIT")
        except (OperationalError, DatabaseUnavailable):
            self._sweep()
            raise

    async def fetch_all_announced(
        self, op: str, sql: LiteralString, params: Params, payloads: Collection[str]
    ) -> list[Row]:
        """:meth:`fetch_all` of a write that either announces every one of ``payloads`` at
        commit (it returned rows) or fails or returns none (it wrote nothing), registered
        like :meth:`fetch_announced`."""
        own = self.own_writes
        if own is None:
            return await self.fetch_all(op, sql, params)
        if not self.schema_ready:
            raise DatabaseUnavailable("the database schema is not ready: migrations have not run")
        try:
            async with self.pool.connection() as conn:
                await autocommit(conn)
                pid = conn.info.backend_pid
                registered = [own.expect(pid, payload) for payload in payloads]
                try:
                    rows = await self._timed(conn, op, sql, params, AsyncCursor.fetchall)
                except BaseException:
                    rows = []
                    raise
                finally:
                    if not rows:
                        for registration in registered:
                            own.withdraw(registration)
                return rows
        except (OperationalError, DatabaseUnavailable):
            self._sweep()
            raise

    async def _control(self, conn: AsyncConnection, sql: LiteralString) -> None:
        """BEGIN, COMMIT or ROLLBACK, under the same bound as a statement (not timed as an
        operation: the statements inside are)."""
        if self.answer_timeout is None:
            await conn.execute(sql)
        else:
            await self._bounded(conn, _rowcount, sql, None)

    async def _roll_back(self, conn: AsyncConnection) -> None:
        # The block's own exception is what the caller must see. A ROLLBACK that fails
        # leaves the connection in a transaction: sever it, so the pool discards it rather
        # than sending a ROLLBACK of its own, which nothing would bound.
        try:
            await self._control(conn, "ROLLBACK")
        except Exception:
            _sever(conn)

    async def _run(
        self,
        op: str,
        sql: LiteralString,
        params: Params,
        fetch: Callable[[AsyncCursor], Awaitable[T]],
        conn: AsyncConnection | None = None,
    ) -> T:
        """``sql`` on ``conn`` (a transaction's), or on a pooled connection of its own."""
        if not self.schema_ready:
            raise DatabaseUnavailable("the database schema is not ready: migrations have not run")
        try:
            if conn is not None:
                return await self._timed(conn, op, sql, params, fetch)
            async with self.pool.connection() as pooled:
                await autocommit(pooled)
                return await self._timed(pooled, op, sql, params, fetch)
        except (OperationalError, DatabaseUnavailable):
            self._sweep()
            raise

    async def _timed(
        self,
        conn: AsyncConnection,
        op: str,
        sql: LiteralString,
        params: Params,
        fetch: Callable[[AsyncCursor], Awaitable[T]],
    ) -> T:
        with self._collector.time(op):
            if self.answer_timeout is None:
                return await fetch(await conn.execute(sql, params))
            return await self._bounded(conn, fetch, sql, params)

    def _sweep(self) -> None:
        # After a database restart every idle pooled connection is dead, and each would fail
        # one more request. One failure makes the pool test its idle connections (in the
        # background, one at a time) and replace the dead ones.
        if self._sweeping is None or self._sweeping.done():
            self._sweeping = asyncio.create_task(_check(self.pool), name="db-pool-check")

    async def _bounded(
        self,
        conn: AsyncConnection,
        fetch: Callable[[AsyncCursor], Awaitable[T]],
        sql: LiteralString,
        params: Params,
    ) -> T:
        """The statement, severed if unanswered for ``answer_timeout`` seconds.

        One timer watches every statement in flight (at most the pool's size), so a
        statement costs two dict operations, not a timer of its own (which cost ~25 us).
        """
        loop = asyncio.get_running_loop()
        self._in_flight[conn] = loop.time() + self.answer_timeout  # type: ignore[operator]
        if self._watch is None:
            self._watch = loop.call_later(self.answer_timeout, self._expire)  # type: ignore[arg-type]
        try:
            return await fetch(await conn.execute(sql, params))
        except OperationalError as exc:
            if conn in self._severed:
                raise DatabaseUnavailable(
                    f"the database did not answer within {self.answer_timeout:g}s"
                ) from exc
            raise
        finally:
            del self._in_flight[conn]
            self._severed.discard(conn)

    def _expire(self) -> None:
        """Sever the statements past their deadline; watch again for the next deadline."""
        self._watch = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for conn, deadline in self._in_flight.items():
            if deadline <= now and conn not in self._severed:
                self._severed.add(conn)
                _sever(conn)
        pending = [d for c, d in self._in_flight.items() if c not in self._severed]
        if pending:
            self._watch = loop.call_at(min(pending), self._expire)


class Transaction(Statements):
    """The statements of one transaction (see :meth:`Database.transaction`), with the
    database's timing, guards and bounds."""

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


def _sever(conn: AsyncConnection) -> None:
    # Cancelling the awaiting coroutine would not do: psycopg then sends a cancel request
    # and waits for the server (5 s + 5 s) before giving up, and a stopped server never
    # answers. Shutting the socket down wakes psycopg's wait at once with an EOF; the
    # descriptor stays open (psycopg owns it) and the pool discards the broken connection.
    with contextlib.suppress(OSError, ValueError, psycopg.Error):  # already closed: done
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
        with sock:
            sock.shutdown(socket.SHUT_RDWR)


async def _check(pool: AsyncConnectionPool) -> None:
    with contextlib.suppress(Exception):  # closed pool, or the database still down: no matter
        await pool.check()


async def _rowcount(cur: AsyncCursor) -> int:
    return cur.rowcount


async def autocommit(conn: AsyncConnection) -> None:
    # A single statement needs no explicit transaction. Without autocommit psycopg would
    # send BEGIN before it and the pool a COMMIT after it: three round trips instead of
    # one. Switching is free (no I/O) and sticks to the pooled connection, so after the
    # first checkout this is one attribute read.
    if not conn.autocommit:
        await conn.set_autocommit(True)
