"""Slack Events API: ``POST /webhook/slack``.

Payloads: ``url_verification`` (answered with its ``challenge`` when the Request URL is
saved) and ``event_callback`` whose ``event`` is a ``message`` (direct messages to the app,
or channels it is in) or an ``app_mention``. A message's ``ts`` is unique within its channel,
so the message id we store is ``"{channel}:{ts}"``: the same message arriving as both
``message`` and ``app_mention``, or again as a retry (``X-Slack-Retry-Num``), is recorded
once and answered once. Signed with ``X-Slack-Signature`` over
``v0:{X-Slack-Request-Timestamp}:{body}``; a timestamp more than five minutes away is
refused as a replay.

In a channel (any ``channel_type`` but the one-to-one ``im`` and ``app_home``: ``channel``,
``group``, ``mpim``) only messages for the app are read: an ``app_mention``, a message
naming the app's bot user (``<@U...>``, the bot user id being the ``authorizations`` entry
with ``is_bot``), or a reply in a thread the bot started (``parent_user_id``). A file
shared with words (subtype ``file_share``) is read by its text; an edit
(``message_changed``) updates what the message recorded, a deletion (``message_deleted``)
deletes it, each answered in the same place.

Answers go to ``chat.postMessage`` as a job (in the message's thread when it had one).
Everything else is acknowledged 200 and ignored, malformed signed bodies included: Slack
retries a non-2xx three times and disables event subscriptions that keep failing. Bot
messages (our own replies among them) and other subtypes are ignored.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from .addressing import one_to_one
from .messages import Message, Outcome
from .payloads import epoch, maybe, need
from .refusals import Malformed, ignored, ok
from .serving import Webhook
from .signatures import verify_slack

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .replies import Replies

# <@U024BE7LH> or <@U024BE7LH|amy>: a mention, never part of an expense.
_MENTION = re.compile(r"<[@#!][^>]*>")
READ = (None, "file_share")  # subtypes read as new messages


class SlackWebhook(Webhook):
    platform = "slack"
    secret_variable = "SLACK_SIGNING_SECRET"
    lenient = True

    def __init__(
        self,
        pipeline: Pipeline,
        replies: Replies,
        *,
        secret: str | None,
        bot_token: str | None,
        api_base: str,
    ) -> None:
        super().__init__(pipeline, replies)
        self._secret = secret
        self.bot_token = bot_token
        self.post_url = f"{api_base}/chat.postMessage"

    @property
    def secret(self) -> str | None:
        return self._secret

    def verify(self, headers: Headers, body: bytes) -> None:
        verify_slack(headers, body, self._secret or "")

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        kind = data.get("type")
        if kind == "url_verification":
            challenge = need(data, "challenge", str, "body")
            return JSONResponse({"challenge": challenge})
        if kind != "event_callback":
            return ignored(f"payload type {str(kind)[:40]!r} is not handled")
        event = need(data, "event", dict, "body")
        kind, subtype = maybe(event, "type", str), event.get("subtype")
        if kind not in ("message", "app_mention"):
            return ignored("not a message event")
        channel = need(event, "channel", str, "event")
        if subtype == "message_deleted":
            return await self._deleted(event, channel)
        edited = subtype == "message_changed"
        body = need(event, "message", dict, "event") if edited else event
        if (subtype not in READ and not edited) or body.get("bot_id") is not None:
            return ignored("not a message from a person")
        user, text = maybe(body, "user", str), maybe(body, "text", str)
        if not user or text is None:
            return ignored("not a message from a person")
        ts = _ts(body, "ts")
        addressed = kind == "app_mention" or self._for_us(data, event, body, text)
        if not addressed and not edited:
            return ignored("a channel message not addressed to the app")
        message = Message(
            platform=self.platform,
            sender_id=user,
            message_id=f"{channel}:{ts}",
            text=html.unescape(_MENTION.sub(" ", text)),  # Slack escapes & < > as entities
            sent_at=epoch(ts),
        )
        if edited:
            outcome = await self.pipeline.edit(message, create=addressed)
        else:
            outcome = await self.pipeline.handle(message)
        await self._answer(outcome, channel, maybe(body, "thread_ts", str))
        return ok()

    async def _deleted(self, event: dict[str, Any], channel: str) -> Response:
        ts = _ts(event, "deleted_ts")
        user = maybe(maybe(event, "previous_message", dict), "user", str)
        if not user:
            return ignored("a deleted message we never read")
        outcome = await self.pipeline.unsend(self.platform, user, f"{channel}:{ts}")
        thread = maybe(maybe(event, "previous_message", dict), "thread_ts", str)
        await self._answer(outcome, channel, thread)
        return ok()

    def _for_us(
        self, data: dict[str, Any], event: dict[str, Any], body: dict[str, Any], text: str
    ) -> bool:
        if one_to_one(self.platform, event.get("channel_type", body.get("channel_type"))):
            return True
        bots = {
            a["user_id"]
            for a in maybe(data, "authorizations", list) or []
            if isinstance(a, dict) and a.get("is_bot") is True and bool(maybe(a, "user_id", str))
        }
        if maybe(body, "parent_user_id", str) in bots:
            return True
        return any(f"<@{bot}>" in text or f"<@{bot}|" in text for bot in bots)

    async def _answer(self, outcome: Outcome, channel: str, thread: str | None) -> None:
        if not outcome.fresh or not self.replies.enabled(
            self.platform, self.bot_token, "SLACK_BOT_TOKEN"
        ):
            return
        reply: dict[str, Any] = {"channel": channel, "text": outcome.text}
        if thread:
            reply["thread_ts"] = thread
        headers = {"Authorization": f"Bearer {self.bot_token}"}
        await self.replies.send(self.platform, self.post_url, reply, headers, outcome.claim)


def _ts(body: dict[str, Any], key: str) -> str:
    ts = need(body, key, str, "event")
    if not ts:
        raise Malformed(f"event.{key}", f"event.{key} is empty")
    return ts
