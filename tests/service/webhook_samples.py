"""Webhook payloads as each platform documents them, signed the way each platform signs.

The shapes follow the platforms' reference examples (LINE Messaging API "message event",
Telegram ``Update``, Slack Events API ``event_callback``/``url_verification``, Discord
interaction objects, WhatsApp Cloud API and Messenger webhook notifications); ids and
texts are ours. Secrets are test values; the Discord key pair is generated per run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from nacl.signing import SigningKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aiexpense.config import WebhookSettings

PLATFORMS = ("line", "telegram", "slack", "discord", "whatsapp", "messenger")

LINE_SECRET = "line-channel-secret-for-tests"
LINE_TOKEN = "line-channel-access-token"
TELEGRAM_SECRET = "telegram-secret-token_for-Tests-1"
TELEGRAM_BOT_TOKEN = "123456:telegram-bot-token"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TOKEN = "xoxb-slack-bot-token"
DISCORD_KEY = SigningKey.generate()
WHATSAPP_SECRET = "whatsapp-app-secret"
WHATSAPP_VERIFY = "whatsapp-verify-token"
WHATSAPP_TOKEN = "whatsapp-access-token"
WHATSAPP_NUMBER_ID = "106540352242922"
MESSENGER_SECRET = "messenger-app-secret"
MESSENGER_VERIFY = "messenger-verify-token"
MESSENGER_TOKEN = "messenger-page-access-token"

_ids = itertools.count(int(time.time() * 1000) % 10**9)


def next_id() -> int:
    return next(_ids)


def webhook_settings(receiver: str | None = None, **overrides: Any) -> WebhookSettings:
    """Every platform configured; replies go to ``receiver`` (``<receiver>/<platform>``)."""
    values: dict[str, Any] = {
        "line_channel_secret": LINE_SECRET,
        "line_channel_access_token": LINE_TOKEN,
        "telegram_secret_token": TELEGRAM_SECRET,
        "slack_signing_secret": SLACK_SECRET,
        "slack_bot_token": SLACK_TOKEN,
        "discord_public_key": DISCORD_KEY.verify_key.encode().hex(),
        "whatsapp_app_secret": WHATSAPP_SECRET,
        "whatsapp_verify_token": WHATSAPP_VERIFY,
        "whatsapp_access_token": WHATSAPP_TOKEN,
        "messenger_app_secret": MESSENGER_SECRET,
        "messenger_verify_token": MESSENGER_VERIFY,
        "messenger_page_access_token": MESSENGER_TOKEN,
        "reply_timeout_seconds": 5.0,
    }
    if receiver:
        for platform in ("line", "telegram", "slack", "whatsapp", "messenger"):
            values[f"{platform}_api_base"] = f"{receiver}/{platform}"
    values.update(overrides)
    return WebhookSettings(**values)


# -- signing ------------------------------------------------------------------------------


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def line_headers(body: bytes, secret: str = LINE_SECRET) -> dict[str, str]:
    return {"X-Line-Signature": base64.b64encode(_hmac(secret, body)).decode()}


def telegram_headers(body: bytes, secret: str = TELEGRAM_SECRET) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": secret}


def slack_headers(
    body: bytes, secret: str = SLACK_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = "v0=" + _hmac(secret, f"v0:{ts}:".encode() + body).hex()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def discord_headers(
    body: bytes, key: SigningKey = DISCORD_KEY, timestamp: str | None = None
) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    signature = key.sign(ts.encode() + body).signature.hex()
    return {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": ts}


def hub_headers(body: bytes, secret: str) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + _hmac(secret, body).hex()}


SIGNERS = {
    "line": line_headers,
    "telegram": telegram_headers,
    "slack": slack_headers,
    "discord": discord_headers,
    "whatsapp": lambda body: hub_headers(body, WHATSAPP_SECRET),
    "messenger": lambda body: hub_headers(body, MESSENGER_SECRET),
}


def encode(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def post(
    client: httpx.Client, platform: str, payload: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST ``payload`` to ``/webhook/<platform>`` signed as the platform signs it."""
    body = encode(payload)
    signed = {"content-type": "application/json", **SIGNERS[platform](body)}
    return client.post(f"/webhook/{platform}", content=body, headers={**signed, **(headers or {})})


# -- payloads -----------------------------------------------------------------------------


def line_message(text: str, *, message_id: str, user_id: str = "U4af4980629") -> dict:
    return {
        "destination": "Uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "events": [
            {
                "replyToken": f"reply-{message_id}",
                "type": "message",
                "mode": "active",
                "timestamp": int(time.time() * 1000),
                "source": {"type": "user", "userId": user_id},
                "webhookEventId": f"01FZ74A0TDDPYRVKNK77XK{message_id[-4:]}",
                "deliveryContext": {"isRedelivery": False},
                "message": {
                    "id": message_id,
                    "type": "text",
                    "quoteToken": "q3Plxr4AgKd",
                    "text": text,
                },
            }
        ],
    }


def telegram_message(
    text: str, *, message_id: int, chat_id: int = 1111111, user_id: int = 1111111
) -> dict:
    return {
        "update_id": next_id(),
        "message": {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Amy", "username": "amy"},
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": "Amy",
                "last_name": "Chen",
                "username": "amy",
                "language_code": "en",
            },
            "text": text,
        },
    }


def slack_message(
    text: str, *, ts: str, channel: str = "D024BE91L", user: str = "U2147483697", **extra
) -> dict:
    return {
        "token": "XXYYZZ",
        "team_id": "T123ABC456",
        "api_app_id": "A123ABC456",
        "event": {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "im",
            **extra,
        },
        "type": "event_callback",
        "event_id": f"Ev{ts.replace('.', '')}",
        "event_time": int(float(ts)),
        "authorizations": [{"team_id": "T123ABC456", "user_id": "U0BOT", "is_bot": True}],
    }


def snowflake() -> str:
    return str(((int(time.time() * 1000) - 1_420_070_400_000) << 22) + next_id() % 4096)


def discord_command(text: str, *, interaction_id: str, user_id: str = "53908232506183680") -> dict:
    return {
        "type": 2,
        "id": interaction_id,
        "application_id": "775799577604522054",
        "token": "A_UNIQUE_TOKEN",
        "version": 1,
        "guild_id": "290926798626357999",
        "channel_id": "645027906669510667",
        "locale": "en-US",
        "member": {
            "user": {
                "id": user_id,
                "username": "mason",
                "global_name": "Mason",
                "discriminator": "0",
                "avatar": None,
            },
            "roles": [],
            "permissions": "2147483647",
            "joined_at": "2017-03-13T19:19:14.040000+00:00",
        },
        "data": {
            "id": "771825006014889984",
            "name": "expense",
            "type": 1,
            "options": [{"type": 3, "name": "text", "value": text}],
        },
    }


def whatsapp_message(text: str, *, wamid: str, sender: str = "16315551181") -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": WHATSAPP_NUMBER_ID,
                            },
                            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": sender}],
                            "messages": [
                                {
                                    "from": sender,
                                    "id": wamid,
                                    "timestamp": str(int(time.time())),
                                    "text": {"body": text},
                                    "type": "text",
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def messenger_message(text: str, *, mid: str, psid: str = "1254459154682919") -> dict:
    now = int(time.time() * 1000)
    return {
        "object": "page",
        "entry": [
            {
                "id": "1122334455",
                "time": now,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": "1122334455"},
                        "timestamp": now,
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }


def sample(platform: str, text: str) -> tuple[dict, str, str]:
    """(payload, stored message id, sender id) of a new text message on ``platform``."""
    n = next_id()
    if platform == "line":
        mid = str(468789577898262530 + n)
        return line_message(text, message_id=mid), mid, "U4af4980629"
    if platform == "telegram":
        payload = telegram_message(text, message_id=n)
        return payload, f"1111111:{n}", "1111111"
    if platform == "slack":
        ts = f"{int(time.time())}.{n % 1_000_000:06d}"
        return slack_message(text, ts=ts), f"D024BE91L:{ts}", "U2147483697"
    if platform == "discord":
        sid = snowflake()
        return discord_command(text, interaction_id=sid), sid, "53908232506183680"
    if platform == "whatsapp":
        wamid = f"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA{n}"
        return whatsapp_message(text, wamid=wamid), wamid, "16315551181"
    mid = f"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_{n}"
    return messenger_message(text, mid=mid), mid, "1254459154682919"


# -- a stand-in for the platforms' reply APIs ---------------------------------------------


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class Receiver:
    """Captures every POST; a path containing ``/fail`` answers like Slack's ``ok: false``."""

    calls: list[Captured] = field(default_factory=list)

    def app(self) -> Starlette:
        async def capture(request: Request) -> JSONResponse:
            self.calls.append(
                Captured(request.url.path, dict(request.headers), await request.json())
            )
            if "/fail" in request.url.path:
                return JSONResponse({"ok": False, "error": "channel_not_found"})
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/{path:path}", capture, methods=["POST"])])

    def to(self, prefix: str) -> list[Captured]:
        return [c for c in self.calls if c.path.startswith(prefix)]

    def __iter__(self) -> Iterator[Captured]:
        return iter(list(self.calls))
