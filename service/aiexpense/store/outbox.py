"""Durable replies: an outbox table in PostgreSQL that every replica's workers drain.

    outbox = ReplyOutbox(db, collector, count=jobs.count, workers=4, lease_seconds=30)
    await outbox.start()
    row_id = await outbox.enqueue("telegram", url, payload, headers)   # committed: acknowledge
    ...
    await outbox.stop()     # in-flight replies finish within drain_seconds or go back

A reply is a row of ``reply_outbox`` (migration 6), committed before the webhook answers
the platform, so a reply once acknowledged survives the process. ``workers`` tasks per
process claim due rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` (replicas never wait for
each other's rows) and hold each for ``lease_seconds``: a replica that dies holding a row
gives it up when the lease ends and another replica sends it. Such a row is a possible
duplicate (the dead replica's POST may have reached the platform): it is counted as
``<ns>_replies_total{outcome="reclaimed"}``, and at most ``workers`` rows per dead replica
can be in that state.

Polling for due rows is untimed (an idle service's counts stay still); each attempt is timed as the
``send_reply`` operation and counted in
``<ns>_jobs_total{job="send_reply", result}``. A 2xx delivers; 429, 5xx and transport
errors are retried after the answer's ``Retry-After`` (seconds or an HTTP date, or
Telegram's ``parameters.retry_after``), else after 1, 2, 4... seconds, both capped at
``max_delay``; another 4xx, or an ``{"ok": false}`` answer, fails at once. After
``max_attempts`` the row fails. End states are counted: ``outcome="delivered"|"failed"``.

Secrets never reach the table: every configured credential in a URL or header is stored
as ``${name}`` and put back when the reply is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, Final, LiteralString

import httpx
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from aiexpense.domain.operations import Op
from exporter import Recorder

from .db import Database, Statements, autocommit

log = logging.getLogger(__name__)

OUTCOMES: Final = ("delivered", "failed", "retry", "reclaimed")

_ENQUEUE: LiteralString = """
    INSERT INTO reply_outbox (platform, url, headers, payload) VALUES (%s, %s, %s, %s)
    RETURNING id
"""
# The CTE reads the row's ``leased`` before the UPDATE sets it: true means an earlier
# claim never recorded an outcome (its worker died): a possible duplicate.
_CLAIM: LiteralString = """
    WITH next AS (
        SELECT id, leased FROM reply_outbox
        WHERE state = 'queued' AND run_after <= now()
        ORDER BY run_after, id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    UPDATE reply_outbox r
    SET attempts = r.attempts + 1, leased = true,
        run_after = now() + make_interval(secs => %s)
    FROM next WHERE r.id = next.id
    RETURNING r.id, r.platform, r.url, r.headers, r.payload, r.attempts, next.leased
"""
_DELIVERED: LiteralString = """
    UPDATE reply_outbox SET state = 'delivered', leased = false, finished_at = now(),
        last_error = NULL
    WHERE id = %s AND state = 'queued'
"""
_FAILED: LiteralString = """
    UPDATE reply_outbox SET state = 'failed', leased = false, finished_at = now(),
        last_error = %s
    WHERE id = %s AND state = 'queued'
"""
# Only the worker holding the current attempt may schedule the next one.
_RETRY: LiteralString = """
    UPDATE reply_outbox SET leased = false, last_error = %s,
        run_after = now() + make_interval(secs => %s)
    WHERE id = %s AND attempts = %s AND state = 'queued'
"""
# Cut off at shutdown: due again at once; ``leased`` stays true (the POST may have landed).
_RETURN: LiteralString = """
    UPDATE reply_outbox SET run_after = now() WHERE id = ANY(%s) AND state = 'queued'
"""
_DUE: LiteralString = """
    SELECT count(*) FROM reply_outbox WHERE state = 'queued' AND run_after <= now()
"""
_PRUNE: LiteralString = """
    DELETE FROM reply_outbox
    WHERE state <> 'queued' AND finished_at < now() - %s * interval '1 day'
"""


@dataclass(frozen=True, slots=True)
class Reply:
    """A claimed row."""

    id: int
    platform: str
    url: str
    headers: dict[str, str]
    payload: Any
    attempt: int
    reclaimed: bool


class Retry(Exception):
    """This attempt failed in a way worth another: after ``delay`` seconds (None: backoff)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class Refused(Exception):
    """The platform refused the reply for good (a 4xx other than 429, or ``ok: false``)."""


class ReplyOutbox:
    """The durable reply queue of one process; see the module's docstring."""

    def __init__(
        self,
        db: Database,
        collector: Recorder,
        *,
        count: Callable[..., None],
        secrets: Mapping[str, str] | None = None,
        workers: int = 4,
        lease_seconds: float = 30.0,
        max_attempts: int = 5,
        max_delay: float = 300.0,
        poll_seconds: float = 1.0,
        drain_seconds: float = 10.0,
        timeout: float = 10.0,
        retention_days: float = 7.0,
        housekeeping_seconds: float = 600.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"EXPORTER_REPLY_WORKERS={workers} must be at least 1")
        if max_attempts < 1:
            raise ValueError(f"EXPORTER_REPLY_MAX_ATTEMPTS={max_attempts} must be at least 1")
        if lease_seconds <= timeout:
            raise ValueError(
                f"EXPORTER_REPLY_LEASE_SECONDS={lease_seconds:g} must exceed the reply timeout"
                f" (EXPORTER_REPLY_TIMEOUT_SECONDS={timeout:g}): a slow reply would be sent twice"
            )
        self.db = db
        self.workers = workers
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.max_delay = max_delay
        self.poll_seconds = poll_seconds
        self.drain_seconds = drain_seconds
        self.timeout = timeout
        self.retention_days = retention_days
        self.housekeeping_seconds = housekeeping_seconds
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted((secrets or {}).items(), key=lambda kv: -len(kv[1]))
        self.housekeeping: list[Callable[[], Awaitable[Any]]] = [self.prune]
        self.due = 0  # rows due database-wide, sampled by the housekeeping task
        self._collector = collector
        self._count = count
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[int, Reply] = {}
        self._stopping = False
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        outcomes = Counter(
            "replies",
            "Replies by outcome: delivered and failed are end states; retry is an attempt"
            " to be repeated; reclaimed is a reply taken over after its worker's lease ran out"
            " (the earlier attempt may have reached the platform: a possible duplicate).",
            ("outcome",),
            namespace=collector.namespace,
            registry=collector.registry,
        )
        self._outcomes = {name: outcomes.labels(name) for name in OUTCOMES}
        collector.registry.register(_OutboxGauges(self, collector.namespace))
        # Several workers of one server: each reports the same database-wide figure.
        collector.aggregate(f"{collector.namespace}_reply_outbox_due", "max")

    @property
    def in_progress(self) -> int:
        """Replies this process's workers are sending now."""
        return len(self._running)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._stopping = False
        self._client = httpx.AsyncClient(timeout=self.timeout)
        self._tasks = [
            asyncio.create_task(self._work(), name=f"reply-worker-{i}") for i in range(self.workers)
        ]
        self._tasks.append(asyncio.create_task(self._housekeep(), name="reply-housekeeping"))

    async def stop(self) -> list[str]:
        """Take no new rows; let replies being sent finish within ``drain_seconds``; put
        the ones cut off back in the queue (due at once, for any replica). Rows not yet
        claimed stay queued. Returns the ids put back (as ``reply-<id>``)."""
        if not self._tasks:
            return []
        self._stopping = True
        self._wake.set()
        workers, housekeeping = self._tasks[:-1], self._tasks[-1]
        housekeeping.cancel()
        await asyncio.wait(workers, timeout=self.drain_seconds)
        cut = sorted(self._running)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._running.clear()
        if cut:
            with contextlib.suppress(Exception):  # the database may be what is failing
                await self.db.execute(Op.DB_UPDATE, _RETURN, (cut,))
            log.error(
                "%d repl(ies) cut off after the %.1fs drain, back in the queue: %s",
                len(cut),
                self.drain_seconds,
                ", ".join(map(str, cut)),
            )
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        return [f"reply-{i}" for i in cut]

    # -- enqueueing ------------------------------------------------------------------------

    async def enqueue(
        self,
        platform: str,
        url: str,
        payload: Any,
        headers: Mapping[str, str],
        *,
        on: Statements | None = None,
    ) -> int:
        """Store a reply for delivery; its row id once committed. Raises on a database
        failure (the webhook then answers 503 and the platform retries). ``on``: a
        transaction to store it in; its caller calls :meth:`wake` once it is committed."""
        hidden = {name: self._hide(value) for name, value in headers.items()}
        row = await (on or self.db).fetch_one(
            Op.DB_INSERT,
            _ENQUEUE,
            (platform, self._hide(url), json.dumps(hidden), json.dumps(payload)),
        )
        assert row is not None
        if on is None:
            self.wake()
        return int(row[0])

    def wake(self) -> None:
        """A reply was committed: this process's idle workers look at once (the other
        replicas' find it at their next poll)."""
        self._wake.set()

    def _hide(self, text: str) -> str:
        for name, value in self._secrets:
            text = text.replace(value, f"${{{name}}}")
        return text

    def _reveal(self, text: str) -> str:
        for name, value in self._secrets:
            text = text.replace(f"${{{name}}}", value)
        return text

    # -- working ---------------------------------------------------------------------------

    async def _work(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                reply = await self._claim()
            except Exception as exc:  # the database is down: try again after a poll
                log.warning("reply outbox: cannot claim replies: %s", exc)
                reply = None
            if reply is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                continue
            self._running[reply.id] = reply
            try:
                await self._deliver(reply)
            finally:
                self._running.pop(reply.id, None)

    async def _claim(self) -> Reply | None:
        row = await self._upkeep(_CLAIM, (self.lease_seconds,), one=True)
        if row is None:
            return None
        reply = Reply(*row)
        if reply.reclaimed:
            self._outcomes["reclaimed"].inc()
            log.warning("reply %d: taken over after a lease ran out (attempt %d)",
                        reply.id, reply.attempt)  # fmt: skip
        return reply

    async def _deliver(self, reply: Reply) -> None:
        start = perf_counter()
        error: Exception | None = None
        try:
            await self._post(reply)
        except Exception as exc:
            error = exc
        self._collector.record_operation(Op.SEND_REPLY, perf_counter() - start, error)
        self._count(Op.SEND_REPLY, ok=error is None)
        try:
            await self._record(reply, error)
        except Exception as exc:  # the lease runs out and the reply is tried again
            log.warning("reply %d: outcome not recorded: %s", reply.id, exc)

    async def _record(self, reply: Reply, error: Exception | None) -> None:
        if error is None:
            await self.db.execute(Op.DB_UPDATE, _DELIVERED, (reply.id,))
            self._outcomes["delivered"].inc()
            return
        reason = f"{reply.platform} reply: {error}"[:500]
        if isinstance(error, Retry) and reply.attempt < self.max_attempts:
            delay = self._delay(error.delay, reply.attempt)
            await self.db.execute(Op.DB_UPDATE, _RETRY, (reason, delay, reply.id, reply.attempt))
            self._outcomes["retry"].inc()
            log.warning("reply %d: %s; attempt %d of %d again in %.1fs",
                        reply.id, error, reply.attempt, self.max_attempts, delay)  # fmt: skip
            return
        await self.db.execute(Op.DB_UPDATE, _FAILED, (reason, reply.id))
        self._outcomes["failed"].inc()
        log.error("reply %d failed after %d attempt(s): %s", reply.id, reply.attempt, error)

    def _delay(self, asked: float | None, attempt: int) -> float:
        if asked is None:
            asked = 2.0 ** (attempt - 1)
        return min(max(asked, 0.0), self.max_delay)

    async def _post(self, reply: Reply) -> None:
        assert self._client is not None
        headers = {name: self._reveal(value) for name, value in reply.headers.items()}
        try:
            response = await self._client.post(
                self._reveal(reply.url), json=reply.payload, headers=headers
            )
        except httpx.HTTPError as exc:  # never the URL in a message: it may hold a token
            raise Retry(f"not delivered: {type(exc).__name__}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise Retry(f"HTTP {status}", retry_after(response))
        if status >= 300:
            raise Refused(f"refused: HTTP {status}")
        # Slack and Telegram answer HTTP 200 with {"ok": false, "error": ...} on failure.
        try:
            answer = response.json()
        except ValueError:
            return
        if isinstance(answer, dict) and answer.get("ok") is False:
            reason = str(answer.get("error") or answer.get("description") or "")[:120]
            raise Refused(f"refused: {reason}")

    async def _upkeep(
        self, sql: LiteralString, params: tuple[Any, ...] = (), *, one: bool = False
    ) -> Any:
        """A polling statement (claim, sample), untimed: an idle service's operation counts
        stay still. ``one``: the first row (or None), else the row count."""
        async with self.db.pool.connection() as conn:
            await autocommit(conn)
            cur = await conn.execute(sql, params)
            return await cur.fetchone() if one else cur.rowcount

    # -- housekeeping ----------------------------------------------------------------------

    async def prune(self) -> int:
        """Delete delivered and failed rows older than ``retention_days``."""
        return await self.db.execute(Op.DB_DELETE, _PRUNE, (self.retention_days,))

    async def _housekeep(self) -> None:
        last = perf_counter()  # the first prune one interval after start
        while True:
            try:
                row = await self._upkeep(_DUE, one=True)
                self.due = row[0] if row else 0
                if perf_counter() - last >= self.housekeeping_seconds:
                    for task in self.housekeeping:
                        await task()
                    last = perf_counter()
            except Exception as exc:
                log.warning("reply outbox housekeeping failed: %s", exc)
            await asyncio.sleep(min(5.0, self.housekeeping_seconds))


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the platform asks us to wait: ``Retry-After`` (seconds or an HTTP date), or
    Telegram's ``{"parameters": {"retry_after": N}}``; None when it does not say."""
    raw = response.headers.get("retry-after", "").strip()
    if raw:
        try:
            return float(raw)
        except ValueError:
            pass
        with contextlib.suppress(TypeError, ValueError, IndexError):
            when = email.utils.parsedate_to_datetime(raw)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    with contextlib.suppress(ValueError, KeyError, TypeError):
        seconds = response.json()["parameters"]["retry_after"]
        if isinstance(seconds, int | float):
            return float(seconds)
    return None


class _OutboxGauges(Collector):
    """Read at scrape time from figures kept in memory (no query on the scrape path)."""

    def __init__(self, outbox: ReplyOutbox, namespace: str) -> None:
        self._outbox = outbox
        self._ns = namespace

    def collect(self) -> Iterator[GaugeMetricFamily]:
        o = self._outbox
        for name, doc, value in (
            ("reply_outbox_due", "Replies due for sending, in the whole database (every"
             " replica reports the same figure; sampled every 5 s).", o.due),
            ("replies_in_progress", "Replies this process is sending now.", o.in_progress),
        ):  # fmt: skip
            yield GaugeMetricFamily(f"{self._ns}_{name}", doc, value=value)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self.collect()
