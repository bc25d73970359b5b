"""Checking a person's API token, touching PostgreSQL only for what no cache can know.

    credentials = Credentials(repo, caches["tokens"], coherent=lambda: caches.coherent)
    verdict = await credentials.check(user_id, sha256_of_presented_token)  # None: valid
    credentials.issued(user_id, sha256)   # after storing a new token

What is known without a read, so a refusal costs no statement and an attacker cannot
make the service queue for its pool:

- **the highest user id holding a token** (:attr:`Credentials.highest`). It is read once,
  raised by every token this process issues or finds and by every token issued elsewhere
  (migration 9 announces each one, see ``invalidation``). An id more than ``NEW_IDS``
  above it has no token anywhere and is refused without a read; one just above it may
  belong to a sign-up elsewhere whose announcement is still on its way, and is looked up
  like any other id (once: the answer is cached).
- **each person's stored digest, or that they have none** (the ``tokens`` cache, kept
  true across replicas by the same announcements). A presented token that differs from
  the cached digest is refused from the cache; it is compared with the database again
  only if ``reread_seconds`` have passed since that person's last re-read (a rotation whose
  announcement has not arrived yet), so wrong secrets for one id cost at most one read a
  second. A failed check never drops a cached digest: the person it belongs to keeps the
  fast path whatever anyone else sends.

While the caches cannot hear announcements (``coherent`` False) nothing here is trusted:
every check reads, as before.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Hashable
from typing import Final, Literal

from cachetools import TTLCache

from .cache import MISSING, Cache
from .repository import Repository

Refusal = Literal["unknown", "wrong_secret"]
NONE: Final = b""  # cached for a person with no token (a digest is 32 bytes, never empty)
REREAD_SECONDS: Final = 1.0
RECENT_REREADS: Final = 10_000  # ids re-read within the last ``reread_seconds``, at most
# Ids above the highest known holder that sign-ups elsewhere may have taken in the moment
# their announcements take to arrive (looked up); anything further above is refused.
NEW_IDS: Final = 10_000


class Credentials:
    """The stored token digests, behind the ``tokens`` cache and the known highest id."""

    def __init__(
        self,
        repo: Repository,
        cache: Cache,
        *,
        coherent: Callable[[], bool],
        reread_seconds: float = REREAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repo = repo
        self._cache = cache
        self._coherent = coherent
        self._reread: TTLCache[int, bool] = TTLCache(RECENT_REREADS, reread_seconds, timer=clock)
        self.highest: int | None = None  # None: not known (not read yet, or announcements missed)
        self._highest_reading: asyncio.Future[None] | None = None
        self._clears = 0
        cache.on_drop = self._dropped

    async def check(self, user_id: int, presented: bytes) -> Refusal | None:
        """None when ``presented`` (a SHA-256) is ``user_id``'s token; else why not."""
        if not self._coherent():
            stored = await self._cache.refresh(user_id, lambda: self._load(user_id))
            return _verdict(presented, stored)
        if not await self._may_hold(user_id):
            return "unknown"
        stored = self._cache.get(user_id)
        if stored is MISSING:
            stored = await self._cache.refresh(user_id, lambda: self._load(user_id))
            return _verdict(presented, stored)
        verdict = _verdict(presented, stored)
        if verdict is None or user_id in self._reread:  # re-read a moment ago: no read
            return verdict
        # A mismatch may be a rotation elsewhere whose announcement is still on its way
        # (even just after a load): read once more, then not again for reread_seconds.
        self._reread[user_id] = True  # before the read: concurrent mismatches do not read
        stored = await self._cache.refresh(user_id, lambda: self._load(user_id))
        return _verdict(presented, stored)

    async def stored(self, user_id: int) -> bytes | None:
        """The person's stored digest (through the cache), None when they have none."""
        value = await self._cache.get_or_load(user_id, lambda: self._load(user_id))
        return value or None

    def issued(self, user_id: int, sha256: bytes) -> None:
        """A token this process has just stored for ``user_id``."""
        self._cache.store(user_id, sha256)
        self._raise_highest(user_id)

    async def _load(self, user_id: int) -> bytes:
        stored = await self._repo.token_digest(user_id)
        if stored is not None:
            self._raise_highest(user_id)
        return stored or NONE

    async def _may_hold(self, user_id: int) -> bool:
        """False only when ``user_id`` is known to hold no token: further above the
        highest holder than sign-ups elsewhere can have gone unannounced (``NEW_IDS``).
        An id just above it is looked up like any other (once, then cached)."""
        if self.highest is None:
            await self._read_highest()
        return self.highest is not None and user_id <= self.highest + NEW_IDS

    async def _read_highest(self) -> None:
        # One read for every check waiting on it; its failure is theirs too (503).
        if self._highest_reading is None:
            self._highest_reading = asyncio.ensure_future(self._fetch_highest())
        reading = self._highest_reading
        try:
            await asyncio.shield(reading)
        finally:
            if reading.done() and self._highest_reading is reading:
                self._highest_reading = None

    async def _fetch_highest(self) -> None:
        clears = self._clears
        highest = await self._repo.highest_token_holder()
        if clears == self._clears:  # else announcements were missed during the read
            self.highest = max(highest, self.highest or 0)

    def _raise_highest(self, user_id: int) -> None:
        # Unknown stays unknown: only a read may say that nothing above it holds a token.
        if self.highest is not None and user_id > self.highest:
            self.highest = user_id

    def _dropped(self, key: Hashable | None) -> None:
        if key is None:  # the cache was cleared: announcements may have been missed
            self.highest = None
            self._clears += 1
        elif isinstance(key, int):  # a token issued elsewhere
            self._raise_highest(key)


def _verdict(presented: bytes, stored: bytes) -> Refusal | None:
    if stored == NONE:
        return "unknown"
    return None if hmac.compare_digest(presented, stored) else "wrong_secret"
