"""Replies by job: an answer stored in the service's reply outbox
(:mod:`aiexpense.store.outbox`, durable, sent by any replica), for platforms where it
cannot ride in the HTTP response.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .deliveries import Claim, Deliveries

if TYPE_CHECKING:
    from ..service import ExpenseService

log = logging.getLogger("aiexpense.webhooks")


class Replies:
    """Answers POSTed to a platform's API by the service's reply outbox: durable, sent by
    whichever replica's worker is free, retried on 429/5xx (see :mod:`aiexpense.store.outbox`)."""

    def __init__(self, service: ExpenseService, timeout: float, deliveries: Deliveries) -> None:
        self.outbox = service.outbox
        self.deliveries = deliveries
        self.timeout = timeout  # the outbox's HTTP timeout; kept for callers that read it
        self._warned: set[str] = set()

    def enabled(self, platform: str, token: str | None, variable: str) -> bool:
        """Whether ``platform`` has the token replies need; says once in the log if not."""
        if token:
            return True
        if platform not in self._warned:
            self._warned.add(platform)
            log.warning("%s replies are off: set %s to send them", platform, variable)
        return False

    async def send(
        self,
        platform: str,
        url: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        claim: Claim | None = None,
    ) -> str | None:
        """Store the reply in the outbox; its id (``reply-<row>``) once committed, so the
        webhook may acknowledge the message. A database failure raises (answered 503).

        With ``claim``, the claim and the reply are one transaction: None when another
        caller has the claim (nothing is sent); a replica dying, or the database failing,
        before the commit leaves neither, so the platform's redelivery is answered."""
        if claim is None:
            return f"reply-{await self.outbox.enqueue(platform, url, payload, headers)}"
        async with self.outbox.db.transaction() as tx:
            if not await self.deliveries.claim(claim, on=tx):
                return None
            row = await self.outbox.enqueue(platform, url, payload, headers, on=tx)
        self.outbox.wake()
        return f"reply-{row}"

    async def aclose(self) -> None:
        """Nothing to close: the outbox owns the HTTP client and closes it on stop."""
