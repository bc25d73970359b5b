"""Slack Events API: ``POST /webhook/slack``.

Payloads: ``url_verification`` (answered with its ``challenge`` when the Request URL is
saved) and ``event_callback`` whose ``event`` is a ``message`` (direct messages to the app,
or channels it is in) or an ``app_mention``. A message's ``ts`` is unique within its channel,
so the message id we store is ``"{channel}:{ts}"``: the same message arriving as both
``message`` and ``app_mention``, or again as a retry (``X-Slack-Retry-Num``), is recorded
once and answered once. Signed with ``X-Slack-Signature`` over
``v0:{X-Slack-Request-Timestamp}:{body}``; a timestamp more than five minutes away is
refused as a replay.

Answers go to ``chat.postMessage`` as a job (in the message's thread when it had one).
Everything else is acknowledged 200 and ignored, malformed signed bodies included: Slack
retries a non-2xx three times and disables event subscriptions that keep failing. Bot
messages (our own replies among them) and edits/deletions (any ``subtype``) are ignored.
"""

from __future__ import annotations

import html
import re
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from .core import Malformed, Message, Webhook, epoch, ignored, maybe, need, ok
from .signatures import verify_slack

# <@U024BE7LH> or <@U024BE7LH|amy>: a mention, never part of an expense.
_MENTION = re.compile(r"<[@#!][^>]*>")


class SlackWebhook(Webhook):
    platform = "slack"
    secret_variable = "SLACK_SIGNING_SECRET"
    lenient = True

    def __init__(self, pipeline, replies, *, secret, bot_token, api_base) -> None:
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
        if event.get("type") not in ("message", "app_mention"):
            return ignored("not a message event")
        if event.get("subtype") is not None or event.get("bot_id") is not None:
            return ignored("not a message from a person")
        user = maybe(event, "user", str)
        text = maybe(event, "text", str)
        if not user or text is None:
            return ignored("not a message from a person")
        channel = need(event, "channel", str, "event")
        ts = need(event, "ts", str, "event")
        if not ts:
            raise Malformed("event.ts", "event.ts is empty")
        outcome = await self.pipeline.handle(
            Message(
                platform=self.platform,
                sender_id=user,
                message_id=f"{channel}:{ts}",
                text=html.unescape(_MENTION.sub(" ", text)),  # Slack escapes & < > as entities
                sent_at=epoch(ts),
            )
        )
        if outcome.fresh and self.replies.enabled(self.platform, self.bot_token, "SLACK_BOT_TOKEN"):
            reply: dict[str, Any] = {"channel": channel, "text": outcome.text}
            thread = maybe(event, "thread_ts", str)
            if thread:
                reply["thread_ts"] = thread
            await self.replies.send(
                self.platform,
                self.post_url,
                reply,
                {"Authorization": f"Bearer {self.bot_token}"},
            )
        return ok()
