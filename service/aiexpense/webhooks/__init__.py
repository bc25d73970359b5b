"""The six messaging webhooks: ``POST /webhook/{line,telegram,slack,discord,whatsapp,messenger}``
(and ``GET`` for Meta's subscription handshake). See ``docs/webhooks.md``.

    webhooks = Webhooks(service, settings.webhooks)
    app = Starlette(routes=[*webhooks.routes(), ...])
    ...
    await service.stop()          # drains the reply jobs
    await webhooks.aclose()       # then closes their HTTP client

One module per platform (payload and answer), :mod:`.signatures` (authentication), and what
the six share, one idea a module: :mod:`.serving` (the platform contract and the endpoint:
timing, refusals answered), :mod:`.refusals`, :mod:`.payloads` (reading the body and its
fields), :mod:`.batches`, :mod:`.messages` (what a platform hands the pipeline and gets
back), :mod:`.pipeline` (message -> expenses -> answer text), :mod:`.replies` (answers by
job, through the outbox), :mod:`.deliveries` (answered once) and :mod:`.addressing`
(whether a group message is meant for the bot).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route

from .discord import DiscordWebhook
from .line import LineWebhook
from .messages import Message, Outcome
from .messenger import MessengerWebhook
from .payloads import MAX_BODY
from .pipeline import NO_EXPENSE, Pipeline
from .replies import Replies
from .serving import Webhook, serve
from .slack import SlackWebhook
from .telegram import TelegramWebhook
from .whatsapp import WhatsAppWebhook

if TYPE_CHECKING:
    from aiexpense.config import WebhookSettings

    from ..service import ExpenseService

__all__ = ["MAX_BODY", "NO_EXPENSE", "Message", "Outcome", "Pipeline", "Webhook", "Webhooks"]


class Webhooks:
    """The webhook endpoints of one service, built from :class:`WebhookSettings`."""

    def __init__(self, service: ExpenseService, settings: WebhookSettings) -> None:
        self.pipeline = Pipeline(service)
        self.replies = Replies(service, settings.reply_timeout_seconds, self.pipeline.deliveries)
        p, r, s = self.pipeline, self.replies, settings
        self.hooks: list[Webhook] = [
            LineWebhook(
                p, r, secret=s.line_channel_secret, access_token=s.line_channel_access_token,
                api_base=s.line_api_base,
            ),
            TelegramWebhook(
                p, r, secret=s.telegram_secret_token, bot_token=s.telegram_bot_token,
                api_base=s.telegram_api_base, bot_username=s.telegram_bot_username,
            ),
            SlackWebhook(
                p, r, secret=s.slack_signing_secret, bot_token=s.slack_bot_token,
                api_base=s.slack_api_base,
            ),
            DiscordWebhook(p, r, public_key=s.discord_public_key),
            WhatsAppWebhook(
                p, r, app_secret=s.whatsapp_app_secret, verify_token=s.whatsapp_verify_token,
                access_token=s.whatsapp_access_token, phone_number_id=s.whatsapp_phone_number_id,
                api_base=s.whatsapp_api_base,
            ),
            MessengerWebhook(
                p, r, app_secret=s.messenger_app_secret, verify_token=s.messenger_verify_token,
                page_access_token=s.messenger_page_access_token, api_base=s.messenger_api_base,
            ),
        ]  # fmt: skip

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                f"/webhook/{hook.platform}",
                functools.partial(serve, hook),
                methods=["GET", "POST"] if hook.handshake else ["POST"],
                name=f"webhook_{hook.platform}",
            )
            for hook in self.hooks
        ]

    async def aclose(self) -> None:
        """Close the replies' HTTP client (after the job queue has drained)."""
        await self.replies.aclose()
