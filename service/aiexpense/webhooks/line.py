"""LINE Messaging API: ``POST /webhook/line``.

Payload: ``{"destination": ..., "events": [...]}``; a text message is an event of type
``message`` with ``message.type == "text"``, ``message.id``, ``source.userId`` and a
``replyToken``. Signed with ``X-Line-Signature`` (base64 HMAC-SHA256 of the body with the
channel secret). Answers go to the reply API (``POST /v2/bot/message/reply``) as a job.

Every other event (follow, join, postback, stickers, images, standby-mode events) and the
console's "Verify" request (``"events": []``) are acknowledged 200 and ignored: LINE sends
them all to the same URL and adds event types over time.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response

from .core import Message, Webhook, epoch, maybe, need, objects, ok
from .signatures import verify_line

MAX_REPLY = 5000  # characters in a LINE text message


class LineWebhook(Webhook):
    platform = "line"
    secret_variable = "LINE_CHANNEL_SECRET"

    def __init__(self, pipeline, replies, *, secret, access_token, api_base) -> None:
        super().__init__(pipeline, replies)
        self._secret = secret
        self.access_token = access_token
        self.reply_url = f"{api_base}/v2/bot/message/reply"

    @property
    def secret(self) -> str | None:
        return self._secret

    def verify(self, headers: Headers, body: bytes) -> None:
        verify_line(headers, body, self._secret or "")

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        events = objects(need(data, "events", list, "body"), "events")
        for event in events:
            found = self._message(event)
            if found is None:
                continue
            message, reply_token = found
            outcome = await self.pipeline.handle(message)
            if (
                outcome.fresh
                and reply_token
                and self.replies.enabled(
                    self.platform, self.access_token, "LINE_CHANNEL_ACCESS_TOKEN"
                )
            ):
                await self.replies.send(
                    self.platform,
                    self.reply_url,
                    {
                        "replyToken": reply_token,
                        "messages": [{"type": "text", "text": outcome.text[:MAX_REPLY]}],
                    },
                    {"Authorization": f"Bearer {self.access_token}"},
                )
        return ok()

    def _message(self, event: dict[str, Any]) -> tuple[Message, str | None] | None:
        if event.get("type") != "message" or event.get("mode") == "standby":
            return None  # standby: another channel (module) owns the chat and answers
        body = maybe(event, "message", dict)
        if body is None or body.get("type") != "text":
            return None
        user_id = maybe(event.get("source"), "userId", str)
        if not user_id:
            return None  # a group member who has not consented to share their id
        message = Message(
            platform=self.platform,
            sender_id=user_id,
            message_id=need(body, "id", str, "message"),
            text=need(body, "text", str, "message"),
            sent_at=_millis(event.get("timestamp")),
        )
        return message, maybe(event, "replyToken", str)


def _millis(value: Any):
    return epoch(value / 1000) if isinstance(value, int | float) else None
