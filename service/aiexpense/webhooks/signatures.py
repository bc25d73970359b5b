"""Request authentication, one function per scheme. Each checks the raw body bytes exactly
as received (never a re-serialised JSON), compares in constant time, and raises
:class:`BadSignature` naming the header at fault.

Header values arrive as ``str`` (Starlette decodes them as latin-1); they are compared as
bytes, because ``hmac.compare_digest`` refuses a ``str`` with non-ASCII characters and a
forged header must be a 401, not a crash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

SLACK_MAX_AGE_SECONDS = 5 * 60  # Slack's own recommendation for replay protection


class BadSignature(Exception):
    """The request is not provably from the platform: answered 401."""

    def __init__(self, header: str, message: str) -> None:
        super().__init__(message)
        self.header = header
        self.message = message


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise BadSignature(name, f"missing {name} header")
    return value


def _same(given: str, expected: bytes | str) -> bool:
    if isinstance(expected, str):
        expected = expected.encode()
    return hmac.compare_digest(given.encode("latin-1", "replace"), expected)


def _hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def verify_line(headers: Mapping[str, str], body: bytes, channel_secret: str) -> None:
    """``X-Line-Signature``: base64 of HMAC-SHA256(channel secret, body)."""
    name = "X-Line-Signature"
    given = _header(headers, name)
    if not _same(given, base64.b64encode(_hmac_sha256(channel_secret, body))):
        raise BadSignature(name, f"{name} does not match the body")


def verify_telegram(headers: Mapping[str, str], secret_token: str) -> None:
    """``X-Telegram-Bot-Api-Secret-Token``: the ``secret_token`` given to setWebhook."""
    name = "X-Telegram-Bot-Api-Secret-Token"
    if not _same(_header(headers, name), secret_token):
        raise BadSignature(name, f"wrong {name}")


def verify_slack(
    headers: Mapping[str, str], body: bytes, signing_secret: str, *, now: float | None = None
) -> None:
    """``X-Slack-Signature`` = ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``, with
    ``X-Slack-Request-Timestamp`` within five minutes of now (older ones are replays)."""
    stamp_name, sig_name = "X-Slack-Request-Timestamp", "X-Slack-Signature"
    stamp = _header(headers, stamp_name)
    given = _header(headers, sig_name)
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise BadSignature(stamp_name, f"{stamp_name} is not a Unix time")
    age = (time.time() if now is None else now) - int(stamp)
    if abs(age) > SLACK_MAX_AGE_SECONDS:
        raise BadSignature(
            stamp_name,
            f"{stamp_name} is {abs(age):.0f}s {'old' if age > 0 else 'ahead'}:"
            f" more than {SLACK_MAX_AGE_SECONDS}s, refused as a possible replay",
        )
    digest = _hmac_sha256(signing_secret, b"v0:" + stamp.encode() + b":" + body).hex()
    if not _same(given, "v0=" + digest):
        raise BadSignature(sig_name, f"{sig_name} does not match the body")


def discord_key(public_key_hex: str) -> VerifyKey:
    """The application's Ed25519 public key from its hex form (Developer Portal)."""
    try:
        raw = bytes.fromhex(public_key_hex)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValueError("DISCORD_PUBLIC_KEY must be 64 hex digits (the application public key)")
    return VerifyKey(raw)


def verify_discord(headers: Mapping[str, str], body: bytes, key: VerifyKey) -> None:
    """``X-Signature-Ed25519``: Ed25519 signature of ``X-Signature-Timestamp`` + body."""
    sig_name, stamp_name = "X-Signature-Ed25519", "X-Signature-Timestamp"
    signature = _header(headers, sig_name)
    stamp = _header(headers, stamp_name)
    try:
        key.verify(stamp.encode("latin-1", "replace") + body, bytes.fromhex(signature))
    except (BadSignatureError, ValueError):
        raise BadSignature(sig_name, f"{sig_name} does not verify") from None


def verify_hub(headers: Mapping[str, str], body: bytes, app_secret: str) -> None:
    """Meta (WhatsApp, Messenger): ``X-Hub-Signature-256: sha256=<hex HMAC of body>``."""
    name = "X-Hub-Signature-256"
    given = _header(headers, name)
    if not _same(given, "sha256=" + _hmac_sha256(app_secret, body).hex()):
        raise BadSignature(name, f"{name} does not match the body")
