"""LRU caches with a time-to-live, timed and counted, that never serve a stale fill.

The race every read-through cache has: a reader misses, starts loading from the database,
a writer changes the row and invalidates the key, and then the reader's (now old) result
lands in the cache and stays there for a whole TTL. Here each load in flight holds a
:class:`_Fill` ticket for its key; ``invalidate`` marks every ticket for that key stale,
and a stale ticket's result is returned to its own caller (whose read overlapped the
write) but never stored. Tickets live only while their load runs, so this costs no memory
per key, unlike a per-key version counter kept forever.

All methods run on the event loop thread and never await between checking and storing,
so no lock is needed. The caches are per process; they stay coherent across processes and
replicas through PostgreSQL (:mod:`aiexpense.store.invalidation`): a committed write is
announced with ``NOTIFY`` and every process drops the key (``source="notify"``); the
writer, which dropped it at once (``source="local"``), hears its own announcement too, a
second drop that costs at most one extra read. A writer that puts its new row into its
own entry instead (:meth:`Cache.revise`) registers its announcement so its listener
skips that echo (:class:`~aiexpense.store.invalidation.OwnWrites`). While a
process cannot be sure it hears those announcements, :attr:`Caches.coherent` is False and
the caches hold nothing: every read goes to the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterator
from time import perf_counter
from typing import Any, Final, TypeVar, cast

from cachetools import TTLCache
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from aiexpense.domain.operations import Op
from exporter import Recorder

V = TypeVar("V")
MISSING: Final = object()


class _Fill:
    """A load in flight for one key; ``stale`` once the key is invalidated meanwhile."""

    __slots__ = ("stale",)

    def __init__(self) -> None:
        self.stale = False


class Cache:
    """One named cache (``users``, ``categories``, ``expenses``)."""

    def __init__(
        self,
        name: str,
        collector: Recorder,
        requests: Counter,
        invalidations: Counter | None = None,
        *,
        maxsize: int,
        ttl: float,
    ) -> None:
        self.name = name
        # Timed inline (two clock reads and this record): a hit takes about a microsecond,
        # and an OperationTimer per lookup costs half as much again (10.2k instructions to
        # 6.9k; docs/kit.md, "What it costs").
        self._record = collector.record_operation
        self._data: TTLCache[Hashable, Any] = TTLCache(maxsize=maxsize, ttl=ttl)
        self._fills: dict[Hashable, list[_Fill]] = {}
        # False while cross-replica invalidation may be missing writes: store nothing.
        self.enabled = True
        # Children bound once: ``labels()`` on every request would cost more than the lookup.
        self._hit_counter = requests.labels(name, "hit")
        self._miss_counter = requests.labels(name, "miss")
        if invalidations is None:  # a cache on its own (tests): counted, not exported
            invalidations = Counter(
                "cache_invalidations", "Keys dropped.", ("cache", "source"), registry=None
            )
        self._invalidated = {
            source: invalidations.labels(name, source) for source in INVALIDATION_SOURCES
        }
        self.hits = 0
        self.misses = 0
        # Told of every key another process's write dropped (``source="notify"``), and of a
        # clear (``None``: anything may have changed); see ``store.credentials``.
        self.on_drop: Callable[[Hashable | None], None] | None = None

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> Any:
        """The cached value, or :data:`MISSING`. Timed as ``cache_get``."""
        started = perf_counter()
        value = self._data.get(key, MISSING)
        if value is MISSING:
            self.misses += 1
            self._miss_counter.inc()
        else:
            self.hits += 1
            self._hit_counter.inc()
        self._record(Op.CACHE_GET, perf_counter() - started)
        return value

    def set(self, key: Hashable, value: Any) -> None:
        """Store ``value`` (evicting the least recently used entry if full), unless the
        cache is disabled. Timed."""
        if not self.enabled:
            return
        started = perf_counter()
        self._data[key] = value
        self._record(Op.CACHE_SET, perf_counter() - started)

    def invalidate(self, *keys: Hashable, source: str = "local") -> None:
        """Drop ``keys`` and spoil any load of them still in flight. Counted in
        ``<ns>_cache_invalidations_total{cache, source}`` (``local``: a write of this
        process, also timed as ``cache_invalidate``, once per write; ``notify``: a write
        announced by PostgreSQL, from any process, this one included)."""
        started = perf_counter() if source == "local" else 0.0  # only a local drop is timed
        for key in keys:
            self._data.pop(key, None)
            for fill in self._fills.get(key, ()):
                fill.stale = True
        if source == "local":
            self._record(Op.CACHE_INVALIDATE, perf_counter() - started)
        self._invalidated[source].inc(len(keys))
        if self.on_drop is not None and source == "notify":
            for key in keys:
                self.on_drop(key)

    def revise(self, key: Hashable, change: Callable[[Any], Any]) -> None:
        """Write-through of this process's own committed write: the entry becomes
        ``change(entry)``; with no entry nothing is stored. Either way any load of the key
        in flight is spoiled (it may have read before the write). Counted and timed as a
        ``local`` invalidation: the entry as it was is gone.

        Only for a write whose announcement the listener skips (``OwnWrites``), and only
        when ``change`` yields what a load would read after the write: otherwise
        :meth:`invalidate`."""
        started = perf_counter()
        for fill in self._fills.get(key, ()):
            fill.stale = True
        value = self._data.get(key, MISSING)
        if value is not MISSING and self.enabled:
            self._data[key] = change(value)
        self._record(Op.CACHE_INVALIDATE, perf_counter() - started)
        self._invalidated["local"].inc()

    async def patch(
        self, key: Hashable, fetch: Callable[[], Awaitable[Any]], change: Callable[[Any, Any], Any]
    ) -> None:
        """Another process's write to ``key`` whose effect is known once ``fetch()`` has
        answered (its new row): the entry is dropped now, as :meth:`invalidate` drops it
        (readers meanwhile load it afresh), then stored as ``change(entry, fetched)``
        unless the key was written again meanwhile or ``fetched`` is None (the row is gone
        again). Without an entry nothing is fetched. Cheaper than a reload when ``fetch``
        reads one row and the entry many."""
        entry = self._data.get(key, MISSING)
        self.invalidate(key, source="notify")
        if entry is MISSING:
            return

        async def patched() -> Any:
            fetched = await fetch()
            return None if fetched is None else change(entry, fetched)

        await self.refresh(key, patched)

    def clear(self) -> None:
        """Drop every entry and spoil every load in flight: writes may have been missed.
        Counted once as ``source="resync"``."""
        self._data.clear()
        for fills in self._fills.values():
            for fill in fills:
                fill.stale = True
        self._invalidated["resync"].inc()
        if self.on_drop is not None:
            self.on_drop(None)

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, else ``await load()``, stored unless it is None or went stale
        (None is not cached: "no such row" must not outlive the row's creation)."""
        value = self.get(key)
        if value is not MISSING:
            return cast(V, value)
        return await self.refresh(key, load)

    async def refresh(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """``await load()`` past the cache, stored as :meth:`get_or_load` would store it.
        The entry in place stays until the load has answered: a read that fails (the
        database down, the pool busy) leaves the cache as it was."""
        fill = _Fill()
        self._fills.setdefault(key, []).append(fill)
        try:
            value = await load()
        finally:
            fills = self._fills[key]
            fills.remove(fill)
            if not fills:
                del self._fills[key]
        if value is not None and not fill.stale:
            self.set(key, value)
        return value

    def store(self, key: Hashable, value: Any) -> None:
        """Store a value the caller just wrote, spoiling older loads of the same key."""
        for fill in self._fills.get(key, ()):
            fill.stale = True
        self.set(key, value)


INVALIDATION_SOURCES: Final = ("local", "notify", "resync")


class Caches:
    """The service's caches and their Prometheus series."""

    def __init__(self, collector: Recorder, sizes: dict[str, tuple[int, float]]) -> None:
        requests = Counter(
            "cache_requests",
            "Cache lookups, by cache and result (hit or miss).",
            ("cache", "result"),
            namespace=collector.namespace,
            registry=collector.registry,
        )
        invalidations = Counter(
            "cache_invalidations",
            "Keys dropped from a cache, by cache and source: local (a write of this process),"
            " notify (a write announced by PostgreSQL), resync (the whole cache, after"
            " announcements may have been missed).",
            ("cache", "source"),
            namespace=collector.namespace,
            registry=collector.registry,
        )
        self.by_name = {
            name: Cache(name, collector, requests, invalidations, maxsize=maxsize, ttl=ttl)
            for name, (maxsize, ttl) in sizes.items()
        }
        self._coherent = True
        collector.registry.register(_CacheEntries(self, collector.namespace))

    @property
    def coherent(self) -> bool:
        """Whether the caches may hold entries (see :mod:`aiexpense.store.invalidation`)."""
        return self._coherent

    def suspend(self) -> None:
        """Hold nothing until :meth:`resume`: writes elsewhere may go unheard meanwhile."""
        self._coherent = False
        for cache in self:
            cache.enabled = False
            cache.clear()

    def resume(self) -> None:
        """Writes are heard again: start from empty caches (what was missed is gone)."""
        for cache in self:
            cache.clear()
            cache.enabled = True
        self._coherent = True

    def __getitem__(self, name: str) -> Cache:
        return self.by_name[name]

    def __iter__(self) -> Iterator[Cache]:
        return iter(self.by_name.values())

    def hit_rate(self) -> float:
        """Hits as a percentage of all lookups across caches (0.0 before any lookup)."""
        hits = sum(c.hits for c in self)
        total = hits + sum(c.misses for c in self)
        return 100.0 * hits / total if total else 0.0


class _CacheEntries(Collector):
    """``<ns>_cache_entries{cache}``, read at scrape time: costs nothing per request.

    The count includes entries past their TTL that no write has swept out yet.
    """

    def __init__(self, caches: Caches, namespace: str) -> None:
        self._caches = caches
        self._name = f"{namespace}_cache_entries"

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, "Entries held, by cache.", labels=["cache"])
        for cache in self._caches:
            family.add_metric([cache.name], len(cache))
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self._name, "Entries held, by cache.", labels=["cache"])
