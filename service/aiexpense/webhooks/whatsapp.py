"""WhatsApp Cloud API: ``GET`` and ``POST /webhook/whatsapp`` (see :mod:`.meta`).

Payload: ``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {"metadata": {"phone_number_id": ...}, "contacts": [...], "messages":
[...]}}]}]}``; a text message has ``type == "text"``, ``from`` (the person's WhatsApp id),
``id`` (``wamid...``), ``timestamp`` and ``text.body``. Status notifications (sent,
delivered, read), other message types and other ``object`` s are acknowledged and ignored.

Answers go to ``POST /{phone-number-id}/messages`` as a job, quoting the message, from the
number that received it (``metadata.phone_number_id``; ``WHATSAPP_PHONE_NUMBER_ID`` when a
payload lacks it).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response

from .core import Message, epoch, ignored, log, maybe, need, objects, ok
from .meta import MetaWebhook

MAX_REPLY = 4096  # characters in a WhatsApp text message


class WhatsAppWebhook(MetaWebhook):
    platform = "whatsapp"
    secret_variable = "WHATSAPP_APP_SECRET"
    verify_token_variable = "WHATSAPP_VERIFY_TOKEN"

    def __init__(
        self, pipeline, replies, *, app_secret, verify_token, access_token, phone_number_id,
        api_base,
    ) -> None:  # fmt: skip
        super().__init__(pipeline, replies, app_secret=app_secret, verify_token=verify_token)
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.api_base = api_base

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        if data.get("object") != "whatsapp_business_account":
            return ignored(f"object {str(data.get('object'))[:40]!r} is not handled")
        for entry in objects(need(data, "entry", list, "body"), "entry"):
            for change in objects(entry.get("changes") or [], "entry.changes"):
                value = maybe(change, "value", dict)
                if change.get("field") != "messages" or value is None:
                    continue
                await self._messages(value)
        return ok()

    async def _messages(self, value: dict[str, Any]) -> None:
        names = {
            contact.get("wa_id"): maybe(contact.get("profile"), "name", str)
            for contact in objects(value.get("contacts") or [], "value.contacts")
        }
        number = maybe(value.get("metadata"), "phone_number_id", str) or self.phone_number_id
        for item in objects(value.get("messages") or [], "value.messages"):
            if item.get("type") != "text":
                continue
            sender = need(item, "from", str, "message")
            wamid = need(item, "id", str, "message")
            outcome = await self.pipeline.handle(
                Message(
                    platform=self.platform,
                    sender_id=sender,
                    message_id=wamid,
                    text=need(need(item, "text", dict, "message"), "body", str, "message.text"),
                    sent_at=epoch(item.get("timestamp")),
                    display_name=names.get(sender),
                )
            )
            if not outcome.fresh or not self.replies.enabled(
                self.platform, self.access_token, "WHATSAPP_ACCESS_TOKEN"
            ):
                continue
            if not (number and number.isascii() and number.isdigit()):
                log.warning("whatsapp reply not sent: no phone number id to send it from")
                continue
            await self.replies.send(
                self.platform,
                f"{self.api_base}/{number}/messages",
                {
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": sender,
                    "context": {"message_id": wamid},
                    "type": "text",
                    "text": {"body": outcome.text[:MAX_REPLY]},
                },
                {"Authorization": f"Bearer {self.access_token}"},
            )
