"""WhatsApp Cloud API: ``GET`` and ``POST /webhook/whatsapp`` (see :mod:`.meta`).

Payload: ``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {"metadata": {"phone_number_id": ...}, "contacts": [...], "messages":
[...]}}]}]}``; a text message has ``type == "text"``, ``from`` (the person's WhatsApp id,
a phone number), ``id`` (``wamid...``), ``timestamp`` and ``text.body``. An image, video or
document is read by its ``caption``. A person who uses a WhatsApp username may arrive
without ``from`` but with ``from_user_id`` (their business-scoped user id, BSUID): they are
recorded under that id and answered through ``recipient``. Status notifications (sent,
delivered, read), other message types and other ``object`` s are acknowledged and ignored.
Each message is handled on its own (:class:`~.batches.Batch`): one malformed message never
costs the others of its notification their expense.

A message with a ``group_id`` (the Groups API) is read only when it is for the business:
an ``/expense`` command or a reply to one of its messages (``context.from`` is the number
that received it); it is answered in the group.

Answers go to ``POST /{phone-number-id}/messages`` as a job, quoting the message, from the
number that received it (``metadata.phone_number_id``; ``WHATSAPP_PHONE_NUMBER_ID`` when a
payload lacks it).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import Response

from .addressing import command
from .batches import Batch
from .messages import Message
from .meta import MetaWebhook
from .payloads import epoch, maybe, need
from .refusals import Malformed, ignored

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .replies import Replies

log = logging.getLogger("aiexpense.webhooks")

MAX_REPLY = 4096  # characters in a WhatsApp text message
CAPTIONED = ("image", "video", "document")


class WhatsAppWebhook(MetaWebhook):
    platform = "whatsapp"
    secret_variable = "WHATSAPP_APP_SECRET"
    verify_token_variable = "WHATSAPP_VERIFY_TOKEN"

    def __init__(
        self,
        pipeline: Pipeline,
        replies: Replies,
        *,
        app_secret: str | None,
        verify_token: str | None,
        access_token: str | None,
        phone_number_id: str | None,
        api_base: str,
    ) -> None:
        super().__init__(pipeline, replies, app_secret=app_secret, verify_token=verify_token)
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.api_base = api_base

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        if data.get("object") != "whatsapp_business_account":
            return ignored(f"object {str(data.get('object'))[:40]!r} is not handled")
        batch = Batch(self.platform)
        for entry in batch.items(need(data, "entry", list, "body"), "entry"):
            for change in batch.items(entry.get("changes"), "entry.changes"):
                value = maybe(change, "value", dict)
                if change.get("field") != "messages" or value is None:
                    continue
                names = _names(value)
                metadata = maybe(value, "metadata", dict)
                for item in batch.items(value.get("messages"), "value.messages"):
                    await batch.run(self._message, item, names, metadata)
        return batch.answer()

    async def _message(
        self, item: dict[str, Any], names: dict[str, str], metadata: dict[str, Any] | None
    ) -> None:
        text = _text(item)
        if text is None:
            return
        phone = maybe(item, "from", str)
        sender = phone or maybe(item, "from_user_id", str)
        if not sender:
            raise Malformed("message.from", "message has neither from nor from_user_id")
        wamid = need(item, "id", str, "message")
        group = maybe(item, "group_id", str)
        ours = maybe(metadata, "display_phone_number", str)
        rest = command(text)
        if rest is not None:
            text = rest
        elif group and not (ours and maybe(item.get("context"), "from", str) == ours):
            return  # group chatter, not for the business
        outcome = await self.pipeline.handle(
            Message(
                platform=self.platform,
                sender_id=sender,
                message_id=wamid,
                text=text,
                sent_at=epoch(item.get("timestamp")),
                display_name=names.get(sender),
            )
        )
        if not outcome.fresh or not self.replies.enabled(
            self.platform, self.access_token, "WHATSAPP_ACCESS_TOKEN"
        ):
            return
        number = maybe(metadata, "phone_number_id", str) or self.phone_number_id
        if not (number and number.isascii() and number.isdigit()):
            log.warning("whatsapp reply not sent: no phone number id to send it from")
            return
        if group:
            to = {"recipient_type": "group", "to": group}
        elif phone:
            to = {"recipient_type": "individual", "to": phone}
        else:  # a username without a known phone number: its BSUID
            to = {"recipient_type": "individual", "recipient": sender}
        await self.replies.send(
            self.platform,
            f"{self.api_base}/{number}/messages",
            {
                "messaging_product": "whatsapp",
                **to,
                "context": {"message_id": wamid},
                "type": "text",
                "text": {"body": outcome.text[:MAX_REPLY]},
            },
            {"Authorization": f"Bearer {self.access_token}"},
            outcome.claim,
        )


def _text(item: dict[str, Any]) -> str | None:
    """A text message's body or a captioned medium's caption; None for anything else."""
    kind = item.get("type")
    if kind == "text":
        return need(need(item, "text", dict, "message"), "body", str, "message.text")
    if kind in CAPTIONED:
        return maybe(item.get(kind), "caption", str)
    return None


def _names(value: dict[str, Any]) -> dict[str, str]:
    """Profile names by the ids a message may name its sender with (wa_id, BSUID)."""
    names: dict[str, str] = {}
    for contact in maybe(value, "contacts", list) or []:
        name = maybe(maybe(contact, "profile", dict), "name", str)
        if name:
            for key in ("wa_id", "user_id"):
                found = maybe(contact, key, str)
                if found:
                    names[found] = name
    return names
