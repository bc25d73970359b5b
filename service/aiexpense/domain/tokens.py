"""API tokens: ``aiex_<user id>_<43 characters>`` (32 random bytes, base64url).

A token is handed out once, by sign-up or rotation; PostgreSQL keeps only its SHA-256 (the
token is high-entropy, so a fast hash is enough). The user id inside names the row to
compare with; the prefix lets secret scanners recognise a leaked token.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

PREFIX: Final = "aiex_"
SECRET_BYTES: Final = 32
SECRET_LENGTH: Final = 43  # characters of SECRET_BYTES in unpadded base64url
_BASE64URL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def new_token(user_id: int) -> str:
    """A fresh API token for ``user_id`` (show it once, store only :func:`digest`)."""
    return f"{PREFIX}{user_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def digest(token: str) -> bytes:
    """What is stored and compared: the token's SHA-256 (32 bytes)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def token_user(token: str) -> int | None:
    """The user id an API token names, or None when it is not shaped like one of ours
    (prefix, a decimal id, and a secret of exactly SECRET_LENGTH base64url characters):
    such a token is refused without looking anything up."""
    if not token.startswith(PREFIX):
        return None
    number, _, rest = token[len(PREFIX) :].partition("_")
    if not (number.isascii() and number.isdigit() and len(number) <= 19):
        return None
    if len(rest) != SECRET_LENGTH or not _BASE64URL.issuperset(rest):
        return None
    user_id = int(number)
    return user_id if 1 <= user_id < 2**63 else None
