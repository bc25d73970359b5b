"""Messenger Platform: ``GET`` and ``POST /webhook/messenger`` (see :mod:`.meta`).

Payload: ``{"object": "page", "entry": [{"messaging": [{"sender": {"id": PSID},
"recipient": {"id": PAGE_ID}, "timestamp": ms, "message": {"mid": ..., "text": ...}}]}]}``.
Echoes of the page's own messages (``message.is_echo``), attachments without text,
postbacks, deliveries and reads are acknowledged and ignored.

Answers go to the Send API (``POST /me/messages``, ``messaging_type: RESPONSE``) as a job,
with the page access token in the ``Authorization`` header rather than the URL.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response

from .core import Message, epoch, ignored, maybe, need, objects, ok
from .meta import MetaWebhook

MAX_REPLY = 2000  # characters in a Messenger text message


class MessengerWebhook(MetaWebhook):
    platform = "messenger"
    secret_variable = "MESSENGER_APP_SECRET"
    verify_token_variable = "MESSENGER_VERIFY_TOKEN"

    def __init__(
        self, pipeline, replies, *, app_secret, verify_token, page_access_token, api_base
    ) -> None:
        super().__init__(pipeline, replies, app_secret=app_secret, verify_token=verify_token)
        self.page_access_token = page_access_token
        self.send_url = f"{api_base}/me/messages"

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        if data.get("object") != "page":
            return ignored(f"object {str(data.get('object'))[:40]!r} is not handled")
        for entry in objects(need(data, "entry", list, "body"), "entry"):
            for event in objects(entry.get("messaging") or [], "entry.messaging"):
                await self._event(event)
        return ok()

    async def _event(self, event: dict[str, Any]) -> None:
        body = maybe(event, "message", dict)
        if body is None or body.get("is_echo") or maybe(body, "text", str) is None:
            return
        sender = need(need(event, "sender", dict, "messaging"), "id", str, "messaging.sender")
        timestamp = event.get("timestamp")
        outcome = await self.pipeline.handle(
            Message(
                platform=self.platform,
                sender_id=sender,
                message_id=need(body, "mid", str, "message"),
                text=body["text"],
                sent_at=epoch(timestamp / 1000) if isinstance(timestamp, int | float) else None,
            )
        )
        if outcome.fresh and self.replies.enabled(
            self.platform, self.page_access_token, "MESSENGER_PAGE_ACCESS_TOKEN"
        ):
            await self.replies.send(
                self.platform,
                self.send_url,
                {
                    "recipient": {"id": sender},
                    "messaging_type": "RESPONSE",
                    "message": {"text": outcome.text[:MAX_REPLY]},
                },
                {"Authorization": f"Bearer {self.page_access_token}"},
            )
