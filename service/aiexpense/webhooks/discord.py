"""Discord interactions: ``POST /webhook/discord`` (the application's Interactions Endpoint URL).

Signed with Ed25519: ``X-Signature-Ed25519`` over ``X-Signature-Timestamp`` + body, checked
with the application's public key. Discord probes the endpoint with bad signatures and
removes it unless they get a 401.

Interactions handled (the answer is always in the HTTP response, type 4
CHANNEL_MESSAGE_WITH_SOURCE, ephemeral: only the person sees their expenses):

* type 1 PING -> type 1 PONG.
* type 2 APPLICATION_COMMAND: a slash command's string options ("/expense text: lunch
  120"); or a message command (right-click a message > Apps), whose target message's
  content is read, stored under ``"{target message id}:{member id}"``: each member who runs
  it on a message gets their own expense, and running it twice records it once.
* type 3 MESSAGE_COMPONENT: a select menu's chosen ``values``.
* type 5 MODAL_SUBMIT: the text inputs' values.

Interactions are always addressed to the app (someone ran its command), in a guild channel
as in a DM, so there is no group filter. Discord sends interactions only, never message
edits or deletions (those need a Gateway connection), so an edited message is not followed.

Other interaction types (autocomplete) and malformed signed bodies are answered 400:
Discord does not retry interactions, and the person sees "interaction failed".
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from .messages import Message
from .payloads import epoch, maybe, need
from .refusals import Malformed, Refusal
from .serving import Webhook
from .signatures import discord_key, verify_discord

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .replies import Replies

PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, MODAL_SUBMIT = 1, 2, 3, 5
PONG, CHANNEL_MESSAGE_WITH_SOURCE = 1, 4
EPHEMERAL = 1 << 6
MESSAGE_COMMAND = 3  # data.type of a command run on a message
STRING_OPTION, SUBCOMMAND, SUBCOMMAND_GROUP = 3, 1, 2
DISCORD_EPOCH_MS = 1_420_070_400_000
MAX_REPLY = 2000  # characters in a Discord message


class DiscordWebhook(Webhook):
    platform = "discord"
    secret_variable = "DISCORD_PUBLIC_KEY"

    def __init__(
        self,
        pipeline: Pipeline,
        replies: Replies,
        *,
        public_key: str | None,
    ) -> None:
        super().__init__(pipeline, replies)
        self._public_key = public_key
        # Checked at start-up: a typo in the key must stop the service, not refuse every call.
        self._key = discord_key(public_key) if public_key else None

    @property
    def secret(self) -> str | None:
        return self._public_key

    def verify(self, headers: Headers, body: bytes) -> None:
        assert self._key is not None
        verify_discord(headers, body, self._key)

    async def receive(self, data: dict[str, Any], headers: Headers) -> Response:
        kind = need(data, "type", int, "interaction")
        if kind == PING:
            return JSONResponse({"type": PONG})
        interaction_id = need(data, "id", str, "interaction")
        body = need(data, "data", dict, "interaction")
        user = maybe(data.get("member"), "user", dict) or maybe(data, "user", dict)
        if user is None:
            raise Malformed("interaction.user", "interaction has neither member.user nor user")
        sender_id = need(user, "id", str, "user")
        message_id = interaction_id
        if kind == APPLICATION_COMMAND and body.get("type") == MESSAGE_COMMAND:
            target_id = need(body, "target_id", str, "data")
            target = maybe(maybe(body.get("resolved"), "messages", dict), target_id, dict)
            text = maybe(target, "content", str) or ""
            # Each member who records the message gets their own expense, once.
            message_id = f"{target_id}:{sender_id}"
        elif kind == APPLICATION_COMMAND:
            text = " ".join(_string_options(body.get("options")))
        elif kind == MESSAGE_COMPONENT:
            values = maybe(body, "values", list) or []
            text = " ".join(v for v in values if isinstance(v, str))
        elif kind == MODAL_SUBMIT:
            text = " ".join(_text_inputs(body.get("components")))
        else:  # authentic but not ours to answer (autocomplete): refused, not an error
            message = f"interaction type {kind} is not handled"
            raise Refusal(400, "interaction.type", message, error=False)
        outcome = await self.pipeline.handle(
            Message(
                platform=self.platform,
                sender_id=sender_id,
                message_id=message_id,
                text=text,
                sent_at=_snowflake_time(interaction_id),
                display_name=maybe(user, "global_name", str) or maybe(user, "username", str),
            )
        )
        await self.pipeline.claim(outcome)  # on record: an interaction is answered anyway
        return JSONResponse(
            {
                "type": CHANNEL_MESSAGE_WITH_SOURCE,
                "data": {
                    "content": outcome.text[:MAX_REPLY],
                    "flags": EPHEMERAL,
                    "allowed_mentions": {"parse": []},  # echoed text never pings anyone
                },
            }
        )


def _string_options(options: Any) -> list[str]:
    """String option values, through subcommands and subcommand groups."""
    found: list[str] = []
    for option in options if isinstance(options, list) else ():
        kind = maybe(option, "type", int)
        if kind == STRING_OPTION and isinstance(option.get("value"), str):
            found.append(option["value"])
        elif kind in (SUBCOMMAND, SUBCOMMAND_GROUP):
            found.extend(_string_options(option.get("options")))
    return found


def _text_inputs(rows: Any) -> list[str]:
    """Values of a modal's text inputs (action rows of components, or bare components)."""
    found: list[str] = []
    for row in rows if isinstance(rows, list) else ():
        inner = maybe(row, "components", list)
        for component in inner if inner is not None else [row]:
            value = maybe(component, "value", str)
            if value:
                found.append(value)
    return found


def _snowflake_time(snowflake: str) -> datetime | None:
    """When Discord made the id: its top 42 bits are milliseconds since 2015."""
    if not (snowflake.isascii() and snowflake.isdigit() and len(snowflake) <= 20):
        raise Malformed("interaction.id", "interaction.id is not a snowflake")
    return epoch((int(snowflake) >> 22) + DISCORD_EPOCH_MS, 1000)
