"""Messages: what a platform module hands the pipeline (:class:`Message`, a text from a
person, as every platform delivers it) and what it gets back (:class:`Outcome`, what to
tell the person and whether to tell it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..domain.models import Expense
from .deliveries import Claim


@dataclass(frozen=True, slots=True)
class Message:
    """A text message from a person, as every platform delivers it."""

    platform: str
    sender_id: str  # the person's id on the platform: becomes users.external_id
    message_id: str  # unique per platform: makes a redelivery idempotent
    text: str
    sent_at: datetime | None = None  # anchors "yesterday"; None: now
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to tell the person. ``fresh`` is False for a redelivery that was answered
    before: platforms that answer by job then stay silent. ``claim``: the answer to claim
    as it is given (:meth:`.Replies.send`, or :meth:`.Pipeline.claim` for an answer in the
    HTTP response), so that a redelivery is answered once."""

    text: str
    fresh: bool
    expenses: tuple[Expense, ...] = ()
    claim: Claim | None = None
