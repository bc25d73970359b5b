"""Description cleaning: what is left of an item's words once its amount and dates are cut
out, with gaps closed, unbalanced brackets, edge punctuation and filler words ("spent",
"paid", "for", "花了") removed; the user's letter case is kept.
"""

from __future__ import annotations

import re

from aiexpense.text.markers import MARKER_RE
from aiexpense.text.numerals import CJK

# A gap left by a removed amount/date between two CJK characters closes up
# ("花了120買午餐" -> "花了買午餐"); anywhere else it becomes a single space.
_CJK_GAP_RE = re.compile(rf"(?<=[{CJK}])\s*\x01[\s\x01]*(?=[{CJK}])")
_GAP_RE = re.compile(r"[\s\x01]+")

# Brackets are not here: _strip_brackets only removes them when unbalanced or wrapping.
_EDGE_PUNCT = " \t,.;:!?~-–—_\"'“”‘’「」『』《》〈〉。、，；：！？…/\\|@#=+*&"
_BRACKETS = (("(", ")"), ("[", "]"), ("{", "}"), ("【", "】"))
_OPENERS = frozenset(opener for opener, _ in _BRACKETS)
_CLOSERS = frozenset(closer for _, closer in _BRACKETS)
_LEADING_FILLER_RE = re.compile(
    r"^(?:(?:hi|hello|hey|ok|okay|so|i|i've|ive|we|just|spent|spend|paid|pay|bought|buy|got"
    r"|grabbed|had|ate|took|for|on|a|an|the|my|about|around|approx|approximately|roughly)"
    r"(?![A-Za-z'])"
    r"|你好|哈囉|嗨|我們|我们|我|剛剛|刚刚|剛|刚|花了|付了|買了|买了|用了|一共|總共|总共|大概)\s*",
    re.IGNORECASE,
)
_TRAILING_FILLER_RE = re.compile(
    r"\s*(?:(?<![A-Za-z'])(?:for|on|at|with|and|of|to|was|is|cost|costs|spent|paid"
    r"|thanks|thx|ty|please|pls)"
    r"|花了|付了|買了|买了|用了|謝謝|谢谢|了|的|喔|哦|啦|吧|呀)$",
    re.IGNORECASE,
)


def clean_description(raw: str) -> str:
    """Drop date markers, close gaps, trim punctuation and filler words at both ends."""
    text = MARKER_RE.sub("\x01", raw)
    text = _CJK_GAP_RE.sub("", text)
    text = _GAP_RE.sub(" ", text)
    while True:
        before = text
        text = _strip_brackets(text.strip(_EDGE_PUNCT))
        text = _LEADING_FILLER_RE.sub("", text)
        text = _TRAILING_FILLER_RE.sub("", text)
        if text == before:
            return text


def _strip_brackets(text: str) -> str:
    """Drop a bracket at either end that lost its partner ("lunch (team" keeps its "(")."""
    if not text or (text[0] not in _OPENERS and text[-1] not in _CLOSERS):
        return text  # the common case, kept cheap
    for opener, closer in _BRACKETS:
        if text.startswith(opener) and text.endswith(closer) and text.count(opener) == 1:
            text = text[1:-1]  # "(lunch)"
        elif text.endswith(closer) and text.count(closer) > text.count(opener):
            text = text[:-1]
        elif text.startswith(opener) and text.count(opener) > text.count(closer):
            text = text[1:]
    return text
