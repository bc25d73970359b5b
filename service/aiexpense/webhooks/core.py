"""What the six webhooks share: reading and refusing requests, the message pipeline, replies.

A platform module only knows its payload: it verifies the signature, turns the payload into
:class:`Message` s and answers in the platform's way. Everything else is here:

* :func:`serve` wraps a platform's handler: times the request as ``webhook_<platform>_message``,
  answers 503 when the platform is not configured, reads at most :data:`MAX_BODY` bytes,
  verifies the signature on those raw bytes (401), parses JSON, and turns every refusal into
  a JSON answer. Nothing but these answers leaves: never a 500.
* :class:`Pipeline` is "message -> user -> parse -> suggest -> create -> answer text"; its
  ``edit`` and ``unsend`` follow a message that was changed or taken back.
* :class:`Batch` runs the items of a batched notification one by one, so one malformed
  item never costs the others their expense.
* :class:`Replies` stores an answer in the service's reply outbox (:mod:`aiexpense.store.outbox`,
  durable, sent by any replica), for platforms where it cannot ride in the HTTP response.
* Whether a message was answered already lives in PostgreSQL (:mod:`.deliveries`), so a
  redelivery to any replica is answered once.

What counts as an error of the webhook operation: a request refused before it was
authenticated (not configured, too large, bad signature), a signed body that is not the
platform's payload (malformed), and a failure of the service (503, so the platform retries).
A valid request that carries no expense, or an event type we do not handle, is a success.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from aiexpense.domain.operations import Op, webhook_operation

from ..domain.errors import NotFound, ServiceError
from ..domain.models import Expense, User
from ..http.faults import RETRY_AFTER_SECONDS
from ..store.db import DATABASE_FAULTS
from ..text.parsing import ParsedExpense, ParseResult, parse_conversation
from ..text.suggest import suggest_category
from .deliveries import Claim, Deliveries
from .signatures import BadSignature

if TYPE_CHECKING:
    from starlette.datastructures import Headers

    from ..service import ExpenseService

log = logging.getLogger("aiexpense.webhooks")

# A chat message is a few KB even with Slack's blocks; 256 KiB leaves room for batches of
# events (LINE, Meta) while keeping a flood of junk from costing memory.
MAX_BODY = 256 * 1024
MAX_TEXT = 4096  # characters of a message given to the parser (Telegram's own limit)
MAX_DESCRIPTION = 500  # the description column's limit (validation.description)
NO_EXPENSE = "I didn't find an expense in that"


# -- refusals -----------------------------------------------------------------------------


class Refusal(Exception):
    """A request answered with ``status`` and ``{"error", "field"}`` (or, with status 200,
    acknowledged and ignored). ``error`` says whether it counts as an operation error."""

    def __init__(self, status: int, field: str, message: str, *, error: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message
        self.error = error

    def response(self) -> JSONResponse:
        if self.status == 200:
            return ignored(self.message, field=self.field)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if self.status == 503 else None
        return JSONResponse(
            {"error": self.message, "field": self.field}, status_code=self.status, headers=headers
        )


class Malformed(Exception):
    """A signed body that is not the platform's payload. 400, or 200 on a lenient platform."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def ignored(reason: str, *, field: str | None = None) -> JSONResponse:
    """200: the request was authentic and is acknowledged, but nothing is done with it."""
    body: dict[str, Any] = {"ok": True, "ignored": reason}
    if field is not None:
        body["field"] = field
    return JSONResponse(body)


def ok() -> JSONResponse:
    return JSONResponse({"ok": True})


# -- reading payloads ---------------------------------------------------------------------


async def read_body(request: Request) -> bytes:
    """The raw body, at most MAX_BODY bytes (413 beyond, counted while reading)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Refusal(413, "body", f"body is larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refusal(413, "body", f"body is larger than {MAX_BODY} bytes")
    return bytes(body)


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (every platform sends one), else :class:`Malformed`."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Malformed("body", f"malformed JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise Malformed("body", "expected a JSON object")
    return data


# Platforms' integers (ids, dates) are 64-bit; JSON allows any size (10^400).
_INT64 = 2**63


def _typed(value: Any, kind: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    return not isinstance(value, int) or -_INT64 <= value < _INT64


def need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]``, which the platform always sends, of JSON type ``kind`` (an integer
    only within 64 bits, never a boolean)."""
    value = obj.get(key)
    if value is None or not _typed(value, kind):
        raise Malformed(f"{where}.{key}", f"{where}.{key} is missing or of the wrong type")
    return value


def maybe(obj: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    """``obj[key]`` if ``obj`` is an object and the value is of type ``kind``, else None."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    return value if _typed(value, kind) else None


def objects(value: Any, where: str) -> list[dict[str, Any]]:
    """A JSON array of objects (entries, events, changes...)."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Malformed(where, f"{where} must be an array of objects")
    return value


# How far back a message's own date is believed (an edit of an old message keeps its
# date) and how far ahead of our clock. A message dated outside (a forged or broken
# timestamp: 10^400, year 1, year 9999) is dated now: its "yesterday" must not land in
# another century, nor overflow the date arithmetic.
OLDEST_MESSAGE = timedelta(days=10 * 366)
CLOCK_AHEAD = timedelta(days=1)


def epoch(value: Any, per_second: int = 1) -> datetime | None:
    """A platform's Unix time (a number or numeric string, ``per_second`` units a second:
    1000 for milliseconds) as local time; None if unusable or implausible."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        when = datetime.fromtimestamp(float(value) / per_second)
    except (ValueError, OverflowError, OSError):  # "x", 10**400, nan, out of range
        return None
    now = datetime.now()
    return when if now - OLDEST_MESSAGE <= when <= now + CLOCK_AHEAD else None


class Batch:
    """Runs the items of a batched notification (LINE events, Meta entries and messages)
    one by one, so a malformed item never costs the others their expense.

    A service failure still propagates (503: the platform redelivers the whole batch, and
    the items already recorded are idempotent). :meth:`answer` is ``{"ok": true}`` when
    every item was usable; when some were not, 200 naming the first fault (the others
    were handled) and counted as an error; when none was usable, the fault itself.
    """

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.handled = 0
        self.faults: list[Malformed] = []

    def items(self, value: Any, where: str) -> Iterator[dict[str, Any]]:
        """The objects of the array ``value`` (entries, changes, events...). An array that
        is not one, or an item that is not an object, is a fault of its own: the others
        are still yielded. None or absent (a level the platform may omit) yields nothing."""
        if value is None:
            return
        if not isinstance(value, list):
            self._fault(Malformed(where, f"{where} must be an array of objects"))
            return
        for item in value:
            if isinstance(item, dict):
                yield item
            else:
                self._fault(Malformed(where, f"{where} must be an array of objects"))

    async def run(self, step: Callable[..., Awaitable[Any]], *args: Any) -> None:
        try:
            await step(*args)
        except Malformed as exc:
            self._fault(exc)
        else:
            self.handled += 1

    def _fault(self, exc: Malformed) -> None:
        log.warning("%s webhook: skipped a malformed item: %s", self.platform, exc.message)
        self.faults.append(exc)

    def answer(self) -> Response:
        if not self.faults:
            return ok()
        first = self.faults[0]
        if not self.handled:
            raise first
        message = f"{len(self.faults)} item(s) skipped, the rest handled: {first.message}"
        raise Refusal(200, first.field, message)


# -- the pipeline -------------------------------------------------------------------------


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
    as it is given (:meth:`Replies.send`, or :meth:`Pipeline.claim` for an answer in the
    HTTP response), so that a redelivery is answered once."""

    text: str
    fresh: bool
    expenses: tuple[Expense, ...] = ()
    claim: Claim | None = None


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
        answer by job is claimed with its reply, by :meth:`Replies.send`)."""
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


# -- replies by job -----------------------------------------------------------------------


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


# -- the platform contract and the endpoint -----------------------------------------------


class Webhook:
    """One platform. Subclasses set the class attributes and implement ``verify`` and
    ``receive``; a platform with a ``GET`` handshake (Meta) also implements ``challenge``."""

    platform: ClassVar[str]
    secret_variable: ClassVar[str]  # named in the 503 answer when the secret is unset
    # Answer a malformed signed body 200-and-ignored instead of 400: for platforms that
    # retry non-2xx answers and disable webhooks that keep failing (see docs/webhooks.md).
    lenient: ClassVar[bool] = False
    handshake: ClassVar[bool] = False  # answers a GET verification request (Meta)

    def __init__(self, pipeline: Pipeline, replies: Replies) -> None:
        self.pipeline = pipeline
        self.replies = replies
        self.collector = pipeline.collector

    @property
    def secret(self) -> str | None:
        raise NotImplementedError

    def verify(self, headers: Headers, body: bytes) -> None:
        raise NotImplementedError

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        raise NotImplementedError

    async def challenge(self, request: Request) -> Response:
        """The ``GET`` subscription handshake, on platforms with ``handshake`` True."""
        raise NotImplementedError

    def not_configured(self, variable: str | None = None) -> Refusal:
        variable = variable or self.secret_variable
        message = f"the {self.platform} webhook is not configured: set {variable}"
        return Refusal(503, variable, message)


async def _post(hook: Webhook, request: Request) -> Response:
    if not hook.secret:
        raise hook.not_configured()
    body = await read_body(request)
    try:
        hook.verify(request.headers, body)
    except BadSignature as exc:
        raise Refusal(401, exc.header, exc.message) from None
    try:
        return await hook.receive(parse_json(body), request.headers)
    except Malformed as exc:
        if hook.lenient:
            log.warning("%s webhook: ignored a malformed payload: %s", hook.platform, exc.message)
            raise Refusal(200, exc.field, exc.message) from None
        raise Refusal(400, exc.field, exc.message) from None


async def serve(hook: Webhook, request: Request) -> Response:
    """Answer one webhook request, timed as ``webhook_<platform>_message``."""
    timer = hook.collector.timer(webhook_operation(hook.platform))
    try:
        if request.method in ("GET", "HEAD") and hook.handshake:
            response = await hook.challenge(request)
        else:
            response = await _post(hook, request)
    except Refusal as exc:
        timer.end(exc if exc.error else None)
        return exc.response()
    except ClientDisconnect:  # the client left mid-body: nobody to answer, not our failure
        timer.end(None)
        raise
    except Exception as exc:  # the service failed (database down...): let the platform retry
        if isinstance(exc, DATABASE_FAULTS):  # an outage: one line, no traceback
            log.warning("%s webhook: database unavailable: %s", hook.platform, exc)
        else:
            log.exception("%s webhook failed", hook.platform)
        timer.end(exc)
        return Refusal(503, "service", "the service could not record this now; retry").response()
    except BaseException as exc:  # cancelled (client gone, shutdown)
        timer.end(exc)
        raise
    timer.end(None)
    return response
