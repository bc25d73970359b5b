"""Messenger Platform: ``GET`` and ``POST /webhook/messenger`` (see :mod:`.meta`).

Payload: ``{"object": "page", "entry": [{"messaging": [{"sender": {"id": PSID},
"recipient": {"id": PAGE_ID}, "timestamp": ms, "message": {"mid": ..., "text": ...}}]}]}``.
An edit (the ``message_edits`` field: ``"message_edit": {"mid", "text", "num_edit"}``)
updates what the message recorded. Echoes of the page's own messages (``message.is_echo``),
attachments without text, postbacks, deliveries and reads are acknowledged and ignored.
A Page's conversations are one person and the Page: there are no group chats to filter.
Each event is handled on its own (:class:`~.batches.Batch`).

Answers go to the Send API (``POST /me/messages``, ``messaging_type: RESPONSE``) as a job,
with the page access token in the ``Authorization`` header rather than the URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import Response

from .batches import Batch
from .messages import Message
from .meta import MetaWebhook
from .payloads import epoch, maybe, need
from .refusals import ignored

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .replies import Replies

MAX_REPLY = 2000  # characters in a Messenger text message


class MessengerWebhook(MetaWebhook):
    platform = "messenger"
    secret_variable = "MESSENGER_APP_SECRET"
    verify_token_variable = "MESSENGER_VERIFY_TOKEN"

    def __init__(
        self,
        pipeline: Pipeline,
        replies: Replies,
        *,
        app_secret: str | None,
        verify_token: str | None,
        page_access_token: str | None,
        api_base: str,
    ) -> None:
        super().__init__(pipeline, replies, app_secret=app_secret, verify_token=verify_token)
        self.page_access_token = page_access_token
        self.send_url = f"{api_base}/me/messages"

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        if data.get("object") != "page":
            return ignored(f"object {str(data.get('object'))[:40]!r} is not handled")
        batch = Batch(self.platform)
        for entry in batch.items(need(data, "entry", list, "body"), "entry"):
            for event in batch.items(entry.get("messaging"), "entry.messaging"):
                await batch.run(self._event, event)
        return batch.answer()

    async def _event(self, event: dict[str, Any]) -> None:
        edit = maybe(event, "message_edit", dict)
        body = edit or maybe(event, "message", dict)
        if body is None or body.get("is_echo") or maybe(body, "text", str) is None:
            return
        sender = need(need(event, "sender", dict, "messaging"), "id", str, "messaging.sender")
        message = Message(
            platform=self.platform,
            sender_id=sender,
            message_id=need(body, "mid", str, "message"),
            text=body["text"],
            sent_at=epoch(event.get("timestamp"), 1000),
        )
        if edit is not None:
            outcome = await self.pipeline.edit(message)
        else:
            outcome = await self.pipeline.handle(message)
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
                outcome.claim,
            )
