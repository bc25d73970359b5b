"""LINE Messaging API: ``POST /webhook/line``.

Payload: ``{"destination": ..., "events": [...]}``; a text message is an event of type
``message`` with ``message.type == "text"``, ``message.id``, ``source.userId`` and a
``replyToken``. Signed with ``X-Line-Signature`` (base64 HMAC-SHA256 of the body with the
channel secret). Answers go to the reply API (``POST /v2/bot/message/reply``) as a job.

In a group or a multi-person chat (``source.type`` ``group``/``room``) only messages for
the bot are read: a mention of it (``message.mention.mentionees[].isSelf``) or an
``/expense`` command. An ``unsend`` event deletes what the message recorded and says so
with a push message (an unsend carries no reply token) to the chat it was in.

Every other event (follow, join, postback, stickers, images, standby-mode events) and the
console's "Verify" request (``"events": []``) are acknowledged 200 and ignored: LINE sends
them all to the same URL and adds event types over time. Each event is handled on its own
(:class:`~.batches.Batch`): a malformed one never costs the others their expense.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import Response

from .addressing import command, one_to_one
from .batches import Batch
from .messages import Message, Outcome
from .payloads import epoch, maybe, need, objects
from .serving import Webhook
from .signatures import verify_line

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .replies import Replies

MAX_REPLY = 5000  # characters in a LINE text message


class LineWebhook(Webhook):
    platform = "line"
    secret_variable = "LINE_CHANNEL_SECRET"

    def __init__(
        self,
        pipeline: Pipeline,
        replies: Replies,
        *,
        secret: str | None,
        access_token: str | None,
        api_base: str,
    ) -> None:
        super().__init__(pipeline, replies)
        self._secret = secret
        self.access_token = access_token
        self.reply_url = f"{api_base}/v2/bot/message/reply"
        self.push_url = f"{api_base}/v2/bot/message/push"

    @property
    def secret(self) -> str | None:
        return self._secret

    def verify(self, headers: Headers, body: bytes) -> None:
        verify_line(headers, body, self._secret or "")

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        batch = Batch(self.platform)
        for event in batch.items(need(data, "events", list, "body"), "events"):
            await batch.run(self._event, event)
        return batch.answer()

    async def _event(self, event: dict[str, Any]) -> None:
        if event.get("mode") == "standby":
            return  # another channel (module) owns the chat and answers
        kind = event.get("type")
        source = maybe(event, "source", dict)
        user_id = maybe(source, "userId", str)
        if not user_id:
            return  # a group member who has not consented to share their id
        if kind == "unsend":
            message_id = need(need(event, "unsend", dict, "event"), "messageId", str, "unsend")
            outcome = await self.pipeline.unsend(self.platform, user_id, message_id)
            chat = maybe(source, "groupId", str) or maybe(source, "roomId", str) or user_id
            await self._send(outcome, self.push_url, {"to": chat})
            return
        body = maybe(event, "message", dict)
        if kind != "message" or body is None or body.get("type") != "text":
            return
        message_id = need(body, "id", str, "message")
        text = need(body, "text", str, "message")
        if not one_to_one(self.platform, maybe(source, "type", str)):
            addressed = _addressed(body, text)
            if addressed is None:
                return
            text = addressed
        else:
            rest = command(text)
            text = text if rest is None else rest
        outcome = await self.pipeline.handle(
            Message(
                platform=self.platform,
                sender_id=user_id,
                message_id=message_id,
                text=text,
                sent_at=epoch(event.get("timestamp"), 1000),
            )
        )
        token = maybe(event, "replyToken", str)
        if token:
            await self._send(outcome, self.reply_url, {"replyToken": token})

    async def _send(self, outcome: Outcome, url: str, target: dict[str, str]) -> None:
        if not outcome.fresh or not self.replies.enabled(
            self.platform, self.access_token, "LINE_CHANNEL_ACCESS_TOKEN"
        ):
            return
        await self.replies.send(
            self.platform,
            url,
            {**target, "messages": [{"type": "text", "text": outcome.text[:MAX_REPLY]}]},
            {"Authorization": f"Bearer {self.access_token}"},
            outcome.claim,
        )


def _addressed(body: dict[str, Any], text: str) -> str | None:
    """A group message's text without the bot's mention, None when it is not for the bot."""
    rest = command(text)
    if rest is not None:
        return rest
    mention = maybe(body, "mention", dict)
    for mentionee in objects(maybe(mention, "mentionees", list) or [], "message.mention"):
        if mentionee.get("isSelf") is True:
            start, length = maybe(mentionee, "index", int), maybe(mentionee, "length", int)
            if start is not None and start >= 0 and length and text[start : start + 1] == "@":
                return text[:start] + " " + text[start + length :]
            return text
    return None
