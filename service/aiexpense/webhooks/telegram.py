"""Telegram Bot API: ``POST /webhook/telegram``.

Payload: an ``Update``; a message is ``update.message`` (``update.edited_message`` when the
person edited it) with ``text`` (or a photo's ``caption``), ``from`` (the person), ``chat``
and ``message_id`` (unique within its chat, so the message id we store is
``"{chat_id}:{message_id}"``). Authenticated by ``X-Telegram-Bot-Api-Secret-Token``, the
``secret_token`` given to ``setWebhook``.

In any chat but a ``private`` one (a group, supergroup or channel) only messages addressed
to the bot are read: an ``/expense`` command, a mention of ``@<TELEGRAM_BOT_USERNAME>``, or
a reply to one of the bot's messages (the bot's user id is the number before the colon of
``TELEGRAM_BOT_TOKEN``).

Answers: without ``TELEGRAM_BOT_TOKEN``, in the webhook's HTTP response as a ``sendMessage``
method call, which Telegram allows (it then reports no result). With the token, as a
``send_reply`` job calling ``sendMessage``, so a failed delivery shows as a ``send_reply``
error. Other update kinds (channel posts, callback queries...), messages from bots and
group chatter are acknowledged 200 and ignored: Telegram retries an update until it gets a
2xx. Telegram tells bots nothing of deleted messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from .addressing import command, mention_pattern, one_to_one
from .messages import Message, Outcome
from .payloads import epoch, maybe, need
from .refusals import ignored, ok
from .serving import Webhook
from .signatures import verify_telegram

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .replies import Replies

MAX_REPLY = 4096  # characters in a Telegram message


class TelegramWebhook(Webhook):
    platform = "telegram"
    secret_variable = "TELEGRAM_SECRET_TOKEN"

    def __init__(
        self,
        pipeline: Pipeline,
        replies: Replies,
        *,
        secret: str | None,
        bot_token: str | None,
        api_base: str,
        bot_username: str | None,
    ) -> None:
        super().__init__(pipeline, replies)
        self._secret = secret
        self.bot_token = bot_token
        self.api_base = api_base
        self.bot_username = (bot_username or "").lstrip("@") or None
        self._mention = mention_pattern(self.bot_username)
        prefix = (bot_token or "").partition(":")[0]
        self.bot_id = int(prefix) if prefix.isascii() and prefix.isdigit() else None

    @property
    def secret(self) -> str | None:
        return self._secret

    def verify(self, headers: Headers, body: bytes) -> None:
        verify_telegram(headers, self._secret or "")

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        need(data, "update_id", int, "update")
        body = maybe(data, "message", dict)
        edited = body is None
        if edited:
            body = maybe(data, "edited_message", dict)
        if body is None:
            return ignored("not a message")
        sender = maybe(body, "from", dict)
        text = maybe(body, "text", str)
        if text is None:
            text = maybe(body, "caption", str)  # a photo or a document with words
        if sender is None or text is None:
            return ignored("not a text message from a person")
        if sender.get("is_bot") is True:
            return ignored("message from a bot")
        chat = need(body, "chat", dict, "message")
        chat_id = need(chat, "id", int, "message.chat")
        message_id = need(body, "message_id", int, "message")
        sender_id = need(sender, "id", int, "message.from")
        addressed = self._for_us(body, text, group=not one_to_one(self.platform, chat.get("type")))
        if addressed is None and not edited:
            return ignored("a group message not addressed to the bot")
        message = Message(
            platform=self.platform,
            sender_id=str(sender_id),
            message_id=f"{chat_id}:{message_id}",
            text=text if addressed is None else addressed,
            sent_at=epoch(body.get("date")),
            display_name=_name(sender),
        )
        if edited:
            outcome = await self.pipeline.edit(message, create=addressed is not None)
        else:
            outcome = await self.pipeline.handle(message)
        return await self._answer(outcome, chat_id, message_id)

    def _for_us(self, body: dict[str, Any], text: str, *, group: bool) -> str | None:
        """The text to read when the message is for the bot (without the command or the
        mention), None when it is group chatter."""
        rest = command(text, self.bot_username)
        if rest is not None:
            return rest
        if not group:
            return text
        if self._mention is not None and self._mention.search(text):
            return self._mention.sub(" ", text)
        entities = maybe(body, "entities", list) or maybe(body, "caption_entities", list) or []
        for entity in entities:
            if maybe(entity, "type", str) == "text_mention" and self._is_us(entity.get("user")):
                return text
        if self._is_us(maybe(maybe(body, "reply_to_message", dict), "from", dict)):
            return text
        return None

    def _is_us(self, user: Any) -> bool:
        if not isinstance(user, dict):
            return False
        uid, name = maybe(user, "id", int), maybe(user, "username", str)
        if self.bot_id is not None and uid == self.bot_id:
            return True
        return bool(self.bot_username and name and name.casefold() == self.bot_username.casefold())

    async def _answer(self, outcome: Outcome, chat_id: int, message_id: int) -> Response:
        if not outcome.fresh:
            return ok()
        reply = {
            "chat_id": chat_id,
            "text": outcome.text[:MAX_REPLY],
            "reply_parameters": {"message_id": message_id, "allow_sending_without_reply": True},
        }
        if self.bot_token:
            url = f"{self.api_base}/bot{self.bot_token}/sendMessage"
            await self.replies.send(self.platform, url, reply, {}, outcome.claim)
            return ok()
        if not await self.pipeline.claim(outcome):
            return ok()
        return JSONResponse({"method": "sendMessage", **reply})


def _name(sender: dict[str, Any]) -> str | None:
    parts = (maybe(sender, "first_name", str), maybe(sender, "last_name", str))
    return " ".join(p for p in parts if p) or maybe(sender, "username", str)
