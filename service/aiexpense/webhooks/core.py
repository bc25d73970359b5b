"""What the six webhooks share: reading and refusing requests, the message pipeline, replies.

A platform module only knows its payload: it verifies the signature, turns the payload into
:class:`Message` s and answers in the platform's way. Everything else is here:

* :func:`serve` wraps a platform's handler: times the request as ``webhook_<platform>_message``,
  answers 503 when the platform is not configured, reads at most :data:`MAX_BODY` bytes,
  verifies the signature on those raw bytes (401), parses JSON, and turns every refusal into
  a JSON answer. Nothing but these answers leaves: never a 500.
* :class:`Pipeline` is "message -> user -> parse -> suggest -> create -> answer text".
* :class:`Replies` stores an answer in the service's reply outbox (:mod:`aiexpense.outbox`,
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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from aiexpense.operations import Op, webhook_operation

from ..errors import ServiceError
from ..models import Expense
from ..parsing import parse_conversation
from ..suggest import suggest_category
from .deliveries import Deliveries
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
RETRY_AFTER_SECONDS = 5


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


def need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]``, which the platform always sends, of JSON type ``kind``."""
    value = obj.get(key)
    if value is None or not isinstance(value, kind) or isinstance(value, bool):
        raise Malformed(f"{where}.{key}", f"{where}.{key} is missing or of the wrong type")
    return value


def maybe(obj: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    """``obj[key]`` if ``obj`` is an object and the value is of type ``kind``, else None."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def objects(value: Any, where: str) -> list[dict[str, Any]]:
    """A JSON array of objects (entries, events, changes...)."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Malformed(where, f"{where} must be an array of objects")
    return value


def epoch(seconds: Any) -> datetime | None:
    """A platform's Unix time (number or numeric string) as local time, None if unusable."""
    try:
        return datetime.fromtimestamp(float(seconds))
    except (TypeError, ValueError, OverflowError, OSError):
        return None


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
    """What to tell the person. ``fresh`` is False for a message answered before, by any
    replica (:mod:`.deliveries`): platforms that answer by job then stay silent."""

    text: str
    fresh: bool
    expenses: tuple[Expense, ...] = ()


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
    """message -> user -> parse_conversation -> suggest_category -> create_expense -> text."""

    def __init__(self, service: ExpenseService) -> None:
        self.service = service
        self.collector = service.collector
        self.deliveries = Deliveries(service.db, retention_days=service.outbox.retention_days)
        service.outbox.housekeeping.append(self.deliveries.prune)

    async def handle(self, message: Message) -> Outcome:
        try:
            user = await self.service.auto_signup(
                message.platform, message.sender_id, display_name=_clean_name(message.display_name)
            )
        except ServiceError as exc:
            raise Malformed("sender", f"sender id refused: {exc.message}") from None
        now = message.sent_at or datetime.now()
        text = _storable(message.text[:MAX_TEXT])
        with self.collector.time(Op.PARSE_CONVERSATION):
            parsed = parse_conversation(text, now, user.currency)
        if not parsed:
            fresh = await self.deliveries.claim(message.platform, message.message_id, "none")
            return Outcome(NO_EXPENSE, fresh)

        history = await self.service.category_history(user.id)
        recorded: list[Expense] = []
        refused: list[str] = []
        for index, item in enumerate(parsed.expenses):
            with self.collector.time(Op.SUGGEST_CATEGORY):
                suggestion = suggest_category(item.description, history)
            try:
                expense = await self.service.create_expense(
                    user.id,
                    item.amount,
                    currency=item.currency,
                    category=suggestion.category,
                    description=item.description[:MAX_DESCRIPTION],
                    spent_on=item.date,
                    platform=message.platform,
                    message_id=item_message_id(message.message_id, index),
                )
            except ServiceError as exc:
                what = item.description or format_amount(item.amount)
                refused.append(f"{what}: {exc.message}")
                continue
            recorded.append(expense)

        # Claimed once the expenses are in, just before the answer is queued: a failure
        # before this point leaves the message unclaimed, so the platform's retry answers.
        kind = "recorded" if recorded else "refused"
        fresh = await self.deliveries.claim(message.platform, message.message_id, kind)
        today = now.date()
        lines = []
        if recorded:
            label = "Recorded" if fresh or any(e.created for e in recorded) else "Already recorded"
            lines.append(f"{label}: " + ", ".join(describe(e, today) for e in recorded))
        if refused:
            lines.append("Not recorded: " + "; ".join(refused))
        return Outcome("\n".join(lines), fresh, tuple(recorded))


# -- replies through the outbox -----------------------------------------------------------


class Replies:
    """Answers POSTed to a platform's API by the service's reply outbox: durable, sent by
    whichever replica's worker is free, retried on 429/5xx (see :mod:`aiexpense.outbox`)."""

    def __init__(self, service: ExpenseService, timeout: float) -> None:
        self.outbox = service.outbox
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
        self, platform: str, url: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> str:
        """Store the reply in the outbox; its id (``reply-<row>``) once committed, so the
        webhook may acknowledge the message. A database failure raises (answered 503)."""
        return f"reply-{await self.outbox.enqueue(platform, url, payload, headers)}"

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
    except Exception as exc:  # the service failed (database down...): let the platform retry
        log.exception("%s webhook failed", hook.platform)
        timer.end(exc)
        return Refusal(503, "service", "the service could not record this now; retry").response()
    except BaseException as exc:  # cancelled (client gone, shutdown)
        timer.end(exc)
        raise
    timer.end(None)
    return response
