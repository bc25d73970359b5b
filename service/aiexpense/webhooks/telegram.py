"""Telegram Bot API: ``POST /webhook/telegram``.

Payload: an ``Update``; a text message is ``update.message`` with ``text``, ``from`` (the
person), ``chat`` and ``message_id`` (unique within its chat, so the message id we store is
``"{chat_id}:{message_id}"``). Authenticated by ``X-Telegram-Bot-Api-Secret-Token``, the
``secret_token`` given to ``setWebhook``.

Answers: without ``TELEGRAM_BOT_TOKEN``, in the webhook's HTTP response as a ``sendMessage``
method call, which Telegram allows (it then reports no result). With the token, as a
``send_reply`` job calling ``sendMessage``, so a failed delivery shows as a ``send_reply``
error. Other update kinds (edits, channel posts, callback queries...) and messages from
bots are acknowledged 200 and ignored: Telegram retries an update until it gets a 2xx.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from .core import Message, Webhook, epoch, ignored, maybe, need, ok
from .signatures import verify_telegram

MAX_REPLY = 4096  # characters in a Telegram message


class TelegramWebhook(Webhook):
    platform = "telegram"
    secret_variable = "TELEGRAM_SECRET_TOKEN"

    def __init__(self, pipeline, replies, *, secret, bot_token, api_base) -> None:
        super().__init__(pipeline, replies)
        self._secret = secret
        self.bot_token = bot_token
        self.api_base = api_base

    @property
    def secret(self) -> str | None:
        return self._secret

    def verify(self, headers: Headers, body: bytes) -> None:
        verify_telegram(headers, self._secret or "")

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        need(data, "update_id", int, "update")
        body = maybe(data, "message", dict)
        if body is None:
            return ignored("not a new message")
        sender = maybe(body, "from", dict)
        text = maybe(body, "text", str)
        if sender is None or text is None:
            return ignored("not a text message from a person")
        if sender.get("is_bot") is True:
            return ignored("message from a bot")
        chat_id = need(need(body, "chat", dict, "message"), "id", int, "message.chat")
        message_id = need(body, "message_id", int, "message")
        name = " ".join(
            part
            for part in (maybe(sender, "first_name", str), maybe(sender, "last_name", str))
            if part
        )
        outcome = await self.pipeline.handle(
            Message(
                platform=self.platform,
                sender_id=str(need(sender, "id", int, "message.from")),
                message_id=f"{chat_id}:{message_id}",
                text=text,
                sent_at=epoch(body.get("date")),
                display_name=name or maybe(sender, "username", str),
            )
        )
        if not outcome.fresh:
            return ok()
        reply = {
            "chat_id": chat_id,
            "text": outcome.text[:MAX_REPLY],
            "reply_parameters": {"message_id": message_id, "allow_sending_without_reply": True},
        }
        if self.bot_token:
            await self.replies.send(
                self.platform, f"{self.api_base}/bot{self.bot_token}/sendMessage", reply, {}
            )
            return ok()
        return JSONResponse({"method": "sendMessage", **reply})
