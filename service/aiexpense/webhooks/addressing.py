"""Whether a message in a group chat is meant for the bot (``docs/webhooks.md``, "Groups").

In a direct chat every message is for the bot. In a group most are not ("order #12345 has
shipped", "we need 3 more chairs"), so a platform records a group message only when it is
addressed to the bot: a mention of it, a reply to one of its messages, or an ``/expense``
command. Each platform module decides mention and reply from its own payload; the command
is read the same way everywhere, here.

Which chats are one-to-one is listed here, per platform, and everything else is a group:
a kind a platform adds later (Slack's ``app_home`` was one such) is then read as a group
(only what is addressed), never as a direct chat recording all of its chatter. Discord
(interactions: always addressed), WhatsApp (a ``group_id`` or not) and Messenger (a Page
and one person) need no table.
"""

from __future__ import annotations

import re
from typing import Final

COMMAND = "expense"
# The chat kinds that are one person and the bot, by platform, as each names them:
# Slack's ``channel_type`` (``channel``, ``group``, ``mpim`` are groups), Telegram's
# ``chat.type`` (``group``, ``supergroup``, ``channel``), LINE's ``source.type``
# (``group``, ``room``).
ONE_TO_ONE: Final[dict[str, frozenset[str]]] = {
    "slack": frozenset({"im", "app_home"}),
    "telegram": frozenset({"private"}),
    "line": frozenset({"user"}),
}
# "/expense 120 lunch", "/expense@ExpenseBot 120 lunch" (Telegram names the bot this way).
_COMMAND_RE = re.compile(
    rf"^\s*/{COMMAND}(?:@(?P<bot>[A-Za-z0-9_]{{1,64}}))?(?=\s|$)\s*", re.IGNORECASE
)


def command(text: str, bot_username: str | None = None) -> str | None:
    """The text after an ``/expense`` command; None when ``text`` is not one, or is one
    for another bot (``/expense@OtherBot``, when our username is known)."""
    match = _COMMAND_RE.match(text)
    if match is None:
        return None
    named = match["bot"]
    if named and bot_username and named.casefold() != bot_username.lstrip("@").casefold():
        return None
    return text[match.end() :]


def one_to_one(platform: str, kind: object) -> bool:
    """Whether a chat of ``kind`` on ``platform`` is one person and the bot (every message
    is for the bot); False for a group kind and for a kind we do not know."""
    return isinstance(kind, str) and kind in ONE_TO_ONE[platform]


def mention_pattern(username: str | None) -> re.Pattern[str] | None:
    """``@username`` as a whole word, any case; None without a username."""
    if not username:
        return None
    name = re.escape(username.lstrip("@"))
    return re.compile(rf"(?<![\w@])@{name}(?!\w)", re.IGNORECASE)
