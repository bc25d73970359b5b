"""Which webhook messages have been answered, in PostgreSQL, shared by every replica.

    deliveries = Deliveries(service.db)
    claim = Claim("telegram", "42:7", "recorded")
    if not await deliveries.answered(claim):     # a cheap look: not answered yet
        async with service.db.transaction() as tx:
            if await deliveries.claim(claim, on=tx):   # True for one caller, ever
                ...queue the answer on tx: both are committed, or neither...

Platforms redeliver a message they think went unanswered, sometimes to another replica
while the first is still at work. The first :meth:`Deliveries.claim` of a (platform,
message id, kind of answer) inserts its row and answers; every later or concurrent one
finds the row (``INSERT ... ON CONFLICT DO NOTHING``: a concurrent claim waits for the first
to commit) and stays silent. The kind (``recorded``, ``refused``, ``none``) lets a message
edited from "no expense" into an expense be answered again. Rows older than
``retention_days`` are pruned (:meth:`prune`), far beyond any platform's redelivery window.
"""

from __future__ import annotations

from typing import LiteralString, NamedTuple

from aiexpense.domain.operations import Op

from ..store.db import Database, Statements

_CLAIM: LiteralString = """
    INSERT INTO webhook_deliveries (platform, message_id, answer) VALUES (%s, %s, %s)
    ON CONFLICT (platform, message_id, answer) DO NOTHING
    RETURNING true
"""
_ANSWERED: LiteralString = """
    SELECT true FROM webhook_deliveries WHERE platform = %s AND message_id = %s AND answer = %s
"""
_PRUNE: LiteralString = """
    DELETE FROM webhook_deliveries WHERE answered_at < now() - %s * interval '1 day'
"""


class Claim(NamedTuple):
    """One kind of answer to one message."""

    platform: str
    message_id: str
    answer: str  # recorded, refused or none


class Deliveries:
    """The ``webhook_deliveries`` table (migration 6)."""

    def __init__(self, db: Database, *, retention_days: float = 7.0) -> None:
        self.db = db
        self.retention_days = retention_days

    async def answered(self, claim: Claim) -> bool:
        """Whether the message has had this kind of answer (a claim may still lose to a
        concurrent one: only :meth:`claim` decides)."""
        return await self.db.fetch_one(Op.DB_QUERY, _ANSWERED, claim) is not None

    async def claim(self, claim: Claim, *, on: Statements | None = None) -> bool:
        """Whether this call is the first to give the message this kind of answer: True
        once per message and kind. ``on``: the transaction that also queues the answer."""
        return await (on or self.db).fetch_one(Op.DB_INSERT, _CLAIM, claim) is not None

    async def prune(self) -> int:
        """Forget messages answered more than ``retention_days`` ago; how many."""
        return await self.db.execute(Op.DB_DELETE, _PRUNE, (self.retention_days,))
