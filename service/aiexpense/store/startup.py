"""Start-up without waiting for the database: the server listens at once and the schema is
migrated when the database first answers.

    startup = DatabaseStartup(url, work=prepare)     # prepare(conn): open the pool, migrate
    task = await startup.start(head_start=3.0)      # retries with backoff until it succeeds
    startup.cause                                 # for readiness: why not yet

Each attempt makes one connection of its own (not the pool's: a failed attempt then tells
its cause, where a pool only says "timed out") and runs ``work`` on it. Every error is
retried, a permanent one too (no such role or database, a wrong password): an operator or
an init job may fix it while we wait, and the pod stays live and unready, its readiness
naming the cause, rather than crash-looping. Each new cause is logged once, as one line
with the user, host, port and database, never the password.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

log = logging.getLogger(__name__)

# Server answers that retrying alone will not fix (PostgreSQL's own wording).
PERMANENT = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # role or database
    "no password supplied",
)
FIRST_DELAY, MAX_DELAY = 0.5, 10.0  # seconds between attempts: doubling up to MAX_DELAY


def pool_conninfo(url: str, statement_timeout: float) -> str:
    """``url`` plus a server-side ``statement_timeout`` and a ``connect_timeout`` (libpq's
    whole seconds, at least 2), each unless the URL already sets its own."""
    params = _params(url)
    options = params.get("options") or ""
    if "statement_timeout" not in options:
        ms = max(1, round(statement_timeout * 1000))
        params["options"] = f"{options} -c statement_timeout={ms}".strip()
    params.setdefault("connect_timeout", max(2, math.ceil(statement_timeout)))
    return make_conninfo(**params)


def describe(url: str) -> str:
    """``user@host:port/dbname`` of a connection string: what a log line may show of it."""
    params = _params(url)
    return "{}@{}:{}/{}".format(
        params.get("user") or "(default user)",
        params.get("host") or "localhost",
        params.get("port") or 5432,
        params.get("dbname") or "(default database)",
    )


def _params(url: str) -> dict[str, Any]:
    try:
        return conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        # psycopg's message may quote the string, password and all: never show it.
        raise ValueError("DATABASE_URL is not a valid PostgreSQL connection string") from None


def cause_of(exc: BaseException, password: str | None = None) -> str:
    """One line saying why an attempt failed: libpq's FATAL line when the server sent one,
    else its last "failed:" clause; ``password`` is blanked out should it appear."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "FATAL:" in text:
        text = text.rsplit("FATAL:", 1)[1].strip()
    elif "failed: " in text:
        text = text.rsplit("failed: ", 1)[1].strip()
    return text.replace(password, "***") if password else text


def is_permanent(cause: str) -> bool:
    return any(phrase in cause for phrase in PERMANENT)


class DatabaseStartup:
    """Runs ``work(conn)`` until it succeeds, each time on a new connection of its own.
    ``cause`` tells readiness why it is not done yet."""

    def __init__(
        self,
        url: str,
        work: Callable[[psycopg.AsyncConnection], Awaitable[None]],
        *,
        connect_timeout: float = 5.0,
    ) -> None:
        self._url = url
        self._where = describe(url)
        self._password = _params(url).get("password")
        self._work = work
        self._connect_timeout = max(2, math.ceil(connect_timeout))
        self.cause = "waiting for the first connection to the database"
        self.attempts = 0

    async def start(self, *, head_start: float = 0.0) -> asyncio.Task[None]:
        """:meth:`run` as a task, after waiting up to ``head_start`` seconds for it to finish."""
        task = asyncio.create_task(self.run(), name="database-startup")
        await asyncio.wait({task}, timeout=head_start)
        return task

    async def run(self) -> None:
        """Attempt until it works; cancel to give up (shutdown)."""
        delay = FIRST_DELAY
        while not await self.attempt():
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)

    async def attempt(self) -> bool:
        """One attempt; True when the work is done."""
        self.attempts += 1
        try:
            async with await psycopg.AsyncConnection.connect(
                self._url, connect_timeout=self._connect_timeout
            ) as conn:
                await self._work(conn)
        except Exception as exc:  # every failure is retried; its cause is kept and logged
            self._failed(cause_of(exc, self._password))
            return False
        log.info("database %s ready after %d attempt(s): schema migrated", self._where,
                 self.attempts)  # fmt: skip
        return True

    def _failed(self, cause: str) -> None:
        permanent = is_permanent(cause)
        text = f"database {self._where} unavailable: {cause}"
        if text != self.cause:  # one line per new cause, not one per attempt
            kind = "a configuration error: fix it; still retrying" if permanent else "retrying"
            log.log(logging.ERROR if permanent else logging.WARNING, "%s (%s, backoff up to %gs)",
                    text, kind, MAX_DELAY)  # fmt: skip
        self.cause = text
