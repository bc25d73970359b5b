"""The message pipeline: "message -> user -> parse -> suggest -> create -> answer text".

:class:`Pipeline` records a message's expenses; its ``edit`` and ``unsend`` follow a
message that was changed or taken back. Whether a message was answered already lives in
PostgreSQL (:mod:`.deliveries`), so a redelivery to any replica is answered once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from aiexpense.domain.operations import Op

from ..domain.errors import NotFound, ServiceError
from ..domain.models import Expense, User
from ..text.parsing import ParsedExpense, ParseResult, parse_conversation
from ..text.suggest import suggest_category
from .deliveries import Claim, Deliveries
from .messages import Message, Outcome
from .refusals import Malformed

if TYPE_CHECKING:
    from ..service import ExpenseService

MAX_TEXT = 4096  # characters of a message given to the parser (Telegram's own limit)
MAX_DESCRIPTION = 500  # the description column's limit (validation.description)
NO_EXPENSE = "I didn't find an expense in that"


def item_message_id(message_id: str, index: int) -> str:
    """The first item of a message keeps the platform's id; the others get ``#<index>``."""
    return message_id if index == 0 else f"{message_id}#{index}"


def format_amount(value: Decimal) -> str:
    """``120.00`` -> ``120``, ``4.50`` stays ``4.50``: what a person would write."""
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def describe(expense: Expense, today: date) -> str:
    """``lunch 120 TWD (food)``, with the date when it is not ``today``."""
    words = f"{expense.description} " if expense.description else ""
    when = "" if expense.spent_on == today else f", {expense.spent_on.isoformat()}"
    return f"{words}{format_amount(expense.amount)} {expense.currency} ({expense.category}{when})"


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    """Text PostgreSQL and a JSON answer can hold: no NUL, no lone surrogates (which JSON's
    ``\\ud800`` escapes allow, usually half an emoji a client cut in two): removed."""
    return _UNSTORABLE.sub("", text)


def _clean_name(name: str | None) -> str | None:
    return _storable(name).strip()[:200] or None if name else None


class Pipeline:
    """message -> user -> parse_conversation -> suggest_category -> create_expense -> text.

    :meth:`handle` records a new message, :meth:`edit` brings what a message recorded in
    line with its new text, :meth:`unsend` deletes it. Each expense is stored under its
    message's id (item ``n`` under ``<id>#n``), which is how an edit or an unsend finds it.
    """

    def __init__(self, service: ExpenseService) -> None:
        self.service = service
        self.collector = service.collector
        self.deliveries = Deliveries(service.db, retention_days=service.outbox.retention_days)
        service.outbox.housekeeping.append(self.deliveries.prune)

    async def handle(self, message: Message) -> Outcome:
        user = await self._user(message)
        now = message.sent_at or datetime.now()
        parsed = self._parse(message, now, user.currency)
        if not parsed:
            claim = Claim(message.platform, message.message_id, "none")
            return Outcome(NO_EXPENSE, not await self.deliveries.answered(claim), claim=claim)
        history = await self.service.category_history(user.id)
        recorded: list[Expense] = []
        refused: list[str] = []
        for index, item in enumerate(parsed.expenses):
            expense = await self._create(user.id, message, index, item, history, refused)
            if expense is not None:
                recorded.append(expense)
        # Claimed when the answer is given, not here: a failure before it is queued leaves
        # the message unclaimed, so the platform's retry answers. Whoever claims answers,
        # even if another replica created the rows: two replicas taking the same update at
        # once answer it once.
        claim = Claim(message.platform, message.message_id, "recorded" if recorded else "refused")
        fresh = not await self.deliveries.answered(claim)
        lines = []
        if recorded:
            label = "Recorded" if fresh or any(e.created for e in recorded) else "Already recorded"
            lines.append(f"{label}: " + ", ".join(describe(e, now.date()) for e in recorded))
        if refused:
            lines.append("Not recorded: " + "; ".join(refused))
        return Outcome("\n".join(lines), fresh, tuple(recorded), claim)

    async def claim(self, outcome: Outcome) -> bool:
        """Claim an answer given in the HTTP response: whether this caller gives it (an
        answer by job is claimed with its reply, by :meth:`.Replies.send`)."""
        return outcome.claim is None or await self.deliveries.claim(outcome.claim)

    async def edit(self, message: Message, *, create: bool = True) -> Outcome:
        """The message's text changed: update its expenses item by item, record new items,
        delete items the text no longer has. ``create`` False (a group message that was
        not addressed to the bot) only touches what the message recorded before.
        ``fresh`` is False when nothing changed (a redelivered edit, an unfurled link)."""
        if not create and not await self.service.user_exists(message.platform, message.sender_id):
            return Outcome("", False)
        user = await self._user(message)
        before = await self.service.expenses_of_message(
            user.id, message.platform, message.message_id
        )
        if not before and not create:
            return Outcome("", False)
        if not before:
            return await self.handle(message)
        now = message.sent_at or datetime.now()
        items = self._parse(message, now, user.currency).expenses
        history = await self.service.category_history(user.id)
        refused: list[str] = []
        results = []
        for index, item in enumerate(items):
            if index < len(before):
                results.append(await self._update(before[index], item, history, refused))
            else:
                results.append(await self._create(user.id, message, index, item, history, refused))
        changed = [e for e in results if e is not None and e not in before]
        removed = [e for e in [await self._delete(e) for e in before[len(items) :]] if e]
        lines = []
        if changed:
            lines.append("Updated: " + ", ".join(describe(e, now.date()) for e in changed))
        if removed:
            lines.append("Deleted: " + ", ".join(describe(e, now.date()) for e in removed))
        if refused:
            lines.append("Not recorded: " + "; ".join(refused))
        return Outcome("\n".join(lines), bool(lines), tuple(changed))

    async def unsend(self, platform: str, sender_id: str, message_id: str) -> Outcome:
        """The person took the message back: delete what it recorded. ``fresh`` is False
        when it had recorded nothing (or a redelivery found it gone)."""
        deleted = await self.service.delete_expenses_of_message(platform, sender_id, message_id)
        if not deleted:
            return Outcome("", False)
        today = datetime.now().date()
        return Outcome("Deleted: " + ", ".join(describe(e, today) for e in deleted), True)

    async def _user(self, message: Message) -> User:
        try:
            return await self.service.auto_signup(
                message.platform, message.sender_id, display_name=_clean_name(message.display_name)
            )
        except ServiceError as exc:
            raise Malformed("sender", f"sender id refused: {exc.message}") from None

    def _parse(self, message: Message, now: datetime, currency: str) -> ParseResult:
        text = _storable(message.text[:MAX_TEXT])
        with self.collector.time(Op.PARSE_CONVERSATION):
            return parse_conversation(text, now, currency)

    def _category(self, description: str, history: Mapping[str, str]) -> str:
        with self.collector.time(Op.SUGGEST_CATEGORY):
            return suggest_category(description, history).category

    async def _create(
        self,
        user_id: int,
        message: Message,
        index: int,
        item: ParsedExpense,
        history: Mapping[str, str],
        refused: list[str],
    ) -> Expense | None:
        try:
            return await self.service.create_expense(
                user_id,
                item.amount,
                currency=item.currency,
                category=self._category(item.description, history),
                description=item.description[:MAX_DESCRIPTION],
                spent_on=item.date,
                platform=message.platform,
                message_id=item_message_id(message.message_id, index),
            )
        except ServiceError as exc:
            refused.append(f"{item.description or format_amount(item.amount)}: {exc.message}")
            return None

    async def _update(
        self, old: Expense, item: ParsedExpense, history: Mapping[str, str], refused: list[str]
    ) -> Expense | None:
        """``old`` with the item's values. The category is only suggested again when the
        words changed: one the person corrected survives an edit of the amount."""
        description = item.description[:MAX_DESCRIPTION]
        if (old.amount, old.currency, old.description, old.spent_on) == (
            item.amount, item.currency, description, item.date,
        ):  # fmt: skip
            return old
        category = None if description == old.description else self._category(description, history)
        try:
            return await self.service.update_expense(
                old.id,
                user_id=old.user_id,
                amount=item.amount,
                currency=item.currency,
                category=category,
                description=description,
                spent_on=item.date,
            )
        except NotFound:  # deleted meanwhile (through the API)
            return None
        except ServiceError as exc:
            refused.append(f"{item.description or format_amount(item.amount)}: {exc.message}")
            return None

    async def _delete(self, expense: Expense) -> Expense | None:
        try:
            return await self.service.delete_expense(expense.id, user_id=expense.user_id)
        except NotFound:
            return None
