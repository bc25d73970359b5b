"""Cache invalidation across replicas over PostgreSQL ``LISTEN/NOTIFY``.

    listener = CacheListener(conninfo, caches, collector, heartbeat_seconds=2.5)
    await listener.start()     # LISTEN on a connection of its own; caches on once it listens
    ...
    await listener.stop()

Triggers on ``expenses`` and ``categories`` (migration 6) and ``api_tokens`` (migration 9)
send ``NOTIFY aiexpense_cache`` with the payload ``<cache>:<key>`` (``expenses:42`` is user
42's recent rows) when a write commits, whichever process or replica made it; every
listener drops that key.

Missed notifications: PostgreSQL delivers every notification to a connected listener, so
one is only missed while the listener's connection is broken. The listener sends a
heartbeat (``SELECT 1``) after every ``heartbeat_seconds`` spent waiting and gives it as
long to answer, so a broken connection is noticed within ``2 * heartbeat_seconds``
(:attr:`CacheListener.staleness_bound`). From then until it listens again the caches hold
nothing (:meth:`Caches.suspend`); once it listens again they start empty
(:meth:`Caches.resume`). A cached entry is therefore never older than the last write
to its rows by more than the staleness bound. Reconnects back off from 0.1 s to 5 s.

Another process's new rows: since migration 10 every change to ``expenses`` is also
announced on ``aiexpense_rows``, a new row with its id (``expenses:42:1001``); a listener
of this version hears expenses there only (``ROW_CACHES``; the plain channel still serves
listeners of earlier versions). A cache given a :class:`RowPatch` fetches another
process's new row and puts it into the entry it holds (:meth:`Cache.patch`) instead of
dropping it and reloading a whole page; updates and deletes drop the key as above.

A process's own writes: a writer that puts its committed row into its own cache
(write-through, ``Cache.revise``) registers the announcement its statement will cause,
(the statement's backend pid, the payload), in :class:`OwnWrites` before sending it, and
withdraws it when the statement wrote nothing or failed. The listener skips a notification
matching a registration (once), so the writer's fresh entry is not dropped by its own
write's echo. Nothing else is skipped: another process's or replica's write comes from
another backend (live backends have distinct pids), and an unregistered own write (a
statement whose outcome was not seen) is applied like any other. A registration lapses
after the staleness bound, so one whose notification never came cannot swallow a later one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final, NamedTuple

import psycopg
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter import Recorder

from .cache import Caches

log = logging.getLogger(__name__)

CHANNEL: Final = "aiexpense_cache"  # the triggers' channel (migration 6)
ROWS_CHANNEL: Final = "aiexpense_rows"  # new rows by id (migration 10)
ROW_CACHES: Final = frozenset({"expenses"})  # announced on ROWS_CHANNEL: heard there only
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0  # seconds between reconnection attempts

# How a payload's key text becomes the cache's key.
KEY_TYPES: Final[dict[str, Callable[[str], object]]] = {
    "expenses": int,
    "categories": str,
    "tokens": int,  # migration 9
}


def announcement(name: str, key: object) -> str:
    """The payload the triggers send for a write to ``name``'s ``key``: ``expenses:42``."""
    return f"{name}:{key}"


def parse(payload: str) -> tuple[str, object] | None:
    """``"expenses:42"`` -> ``("expenses", 42)``; None for a payload we do not know."""
    name, _, key = payload.partition(":")
    convert = KEY_TYPES.get(name)
    if convert is None or not key:
        return None
    try:
        return name, convert(key)
    except ValueError:
        return None


def split_row(payload: str) -> tuple[str, int | None]:
    """``"expenses:42:1001"`` -> ``("expenses:42", 1001)``; ``"expenses:42"`` -> ``(…, None)``."""
    head, _, row = payload.rpartition(":")
    if ":" in head and row.isdigit():
        return head, int(row)
    return payload, None


class RowPatch(NamedTuple):
    """How a cache takes in another process's new row instead of dropping its entry."""

    fetch: Callable[[int, Any], Awaitable[Any]]  # (row id, key) -> the row, None if gone
    change: Callable[[Any, Any], Any]  # (entry, row) -> the entry with the row in it


class OwnWrites:
    """Announcements this process's own writes will cause, for the listener to skip.

    Registered by (backend pid, payload) before the statement is sent, so its notification,
    which may reach the listener before the writer sees its answer, is never missed.
    ``lifetime`` seconds later a registration lapses (its notification then drops the key:
    one extra read, never a stale one). Runs on the event loop thread: no lock.
    """

    def __init__(self, lifetime: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.skipped = 0  # notifications claimed (not applied) since start
        self._clock = clock
        self._due: dict[tuple[int, str], list[float]] = {}  # -> lapse times, oldest first

    def __len__(self) -> int:
        return sum(len(times) for times in self._due.values())

    def expect(self, pid: int, payload: str) -> tuple[tuple[int, str], float]:
        """Register the announcement of a statement about to run on backend ``pid``."""
        key, lapse = (pid, payload), self._clock() + self.lifetime
        self._due.setdefault(key, []).append(lapse)
        return key, lapse

    def withdraw(self, registration: tuple[tuple[int, str], float]) -> None:
        """The statement announced nothing (wrote no row, rolled back) or its outcome is
        unknown: its notification, if any comes, must be applied."""
        key, lapse = registration
        times = self._due.get(key)
        if times is not None and lapse in times:
            times.remove(lapse)
            if not times:
                del self._due[key]

    def claim(self, pid: int, payload: str) -> bool:
        """Is this notification a registered one (then it is consumed)?"""
        times = self._due.get((pid, payload))
        if times is None:
            return False
        now = self._clock()
        while times and times[0] <= now:  # lapsed: their notifications never came
            times.pop(0)
        claimed = bool(times)
        if claimed:
            times.pop(0)
            self.skipped += 1
        if not times:
            del self._due[(pid, payload)]
        return claimed

    def clear(self) -> None:
        """Forget every registration (the listener reconnected: its notifications are
        lost or will be applied)."""
        self._due.clear()


class CacheListener:
    """Keeps ``caches`` coherent with writes made anywhere on the database."""

    def __init__(
        self,
        conninfo: str,
        caches: Caches,
        collector: Recorder,
        *,
        heartbeat_seconds: float = 2.5,
        patches: dict[str, RowPatch] | None = None,
    ) -> None:
        """``patches``: by cache name, how another process's new row goes into an entry
        (see :class:`RowPatch`); a cache without one drops the entry."""
        if heartbeat_seconds <= 0:
            raise ValueError(
                f"EXPORTER_CACHE_HEARTBEAT_SECONDS={heartbeat_seconds:g} must be positive"
            )
        self.conninfo = conninfo
        self.caches = caches
        self.heartbeat_seconds = heartbeat_seconds
        self.connected = False
        self.reconnects = 0
        self.backend_pid: int | None = None  # the listening connection's server process
        self.own_writes = OwnWrites(self.staleness_bound)
        self.patches = patches or {}
        self._task: asyncio.Task[None] | None = None
        self._patching: set[asyncio.Task[None]] = set()
        self._listening = asyncio.Event()
        self._reconnects = Counter(
            "cache_listener_reconnects",
            "Times the cache invalidation listener connected again after losing its"
            " connection to PostgreSQL (the caches were emptied each time).",
            namespace=collector.namespace,
            registry=collector.registry,
        )
        collector.registry.register(_ListenerUp(self, collector.namespace))
        # Several workers of one server: 1 only if every one of them hears invalidations.
        collector.aggregate(f"{collector.namespace}_cache_listener_up", "min")

    @property
    def staleness_bound(self) -> float:
        """Seconds a cached entry may trail a write when notifications are missed."""
        return 2 * self.heartbeat_seconds

    async def start(self, wait: float = 5.0) -> None:
        """Start listening; wait up to ``wait`` seconds for the first LISTEN (until then,
        and if it fails, the caches hold nothing and the listener keeps trying)."""
        self.caches.suspend()
        self._task = asyncio.create_task(self._run(), name="cache-listener")
        await self.listening(wait)

    async def listening(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the listener to be listening; is it?"""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout)
        return self._listening.is_set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for task in self._patching:
            task.cancel()
        await asyncio.gather(*self._patching, return_exceptions=True)
        self.connected = False

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        first = True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=max(1, round(self.heartbeat_seconds)),
                    application_name="aiexpense-cache-listener",
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}; LISTEN {ROWS_CHANNEL}")
                    self.backend_pid = conn.info.backend_pid
                    # Listening now: whatever was written before is either in the database
                    # (caches start empty) or will be announced on this connection.
                    self.own_writes.clear()
                    self.caches.resume()
                    self.connected = True
                    if not first:
                        self.reconnects += 1
                        self._reconnects.inc()
                        log.info("cache listener connected again; caches emptied")
                    first = False
                    self._listening.set()
                    delay = BACKOFF_FIRST
                    await self._listen(conn)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if not first:
                    log.warning("cache listener lost its connection: %s", exc)
            self.connected = False
            self.caches.suspend()
            await asyncio.sleep(delay)
            delay = min(2 * delay, BACKOFF_MAX)

    async def _listen(self, conn: psycopg.AsyncConnection) -> None:
        while True:
            async for notify in conn.notifies(timeout=self.heartbeat_seconds):
                self._heard(notify)
            await self._heartbeat(conn)

    def _heard(self, notify: psycopg.Notify) -> None:
        rows = notify.channel == ROWS_CHANNEL
        head, row = split_row(notify.payload) if rows else (notify.payload, None)
        parsed = parse(head)
        if parsed is None:
            log.warning("cache listener: ignored an unknown payload %r", notify.payload[:80])
            return
        name, key = parsed
        if not rows and name in ROW_CACHES:
            return  # heard on the rows channel (this one serves earlier versions)
        if self.own_writes.claim(notify.pid, head):
            return
        cache, patch = self.caches.by_name.get(name), self.patches.get(name)
        if cache is None:
            return
        if row is None or patch is None:
            cache.invalidate(key, source="notify")
            return
        task = asyncio.create_task(cache.patch(key, lambda: patch.fetch(row, key), patch.change))
        self._patching.add(task)
        task.add_done_callback(self._patched)

    def _patched(self, task: asyncio.Task[None]) -> None:
        self._patching.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The entry stays dropped: the next read loads it (and meets the fault, if any).
            log.debug("cache listener: a new row was not fetched: %s", task.exception())

    async def _heartbeat(self, conn: psycopg.AsyncConnection) -> None:
        """A quiet connection may be a dead one: it must answer within a heartbeat."""
        beat = asyncio.ensure_future(conn.execute("SELECT 1"))
        done, _ = await asyncio.wait({beat}, timeout=self.heartbeat_seconds)
        if done:
            beat.result()  # raises if the connection failed
            return
        # No answer: stop caching now, not after psycopg's polite cancel (which waits
        # seconds for a server that does not answer), then drop the socket.
        self.connected = False
        self.caches.suspend()
        conn.pgconn.finish()
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
        raise TimeoutError(f"no heartbeat answer within {self.heartbeat_seconds:g}s")


class _ListenerUp(Collector):
    """``<ns>_cache_listener_up``: 1 while invalidations are heard, read at scrape time."""

    def __init__(self, listener: CacheListener, namespace: str) -> None:
        self._listener = listener
        self._name = f"{namespace}_cache_listener_up"

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            self._name,
            "1 while this process hears cache invalidations from PostgreSQL; 0 while it does"
            " not (its caches then hold nothing).",
            value=1 if self._listener.connected else 0,
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self.collect()
