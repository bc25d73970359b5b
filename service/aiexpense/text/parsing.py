"""Turn a chat message into zero or more expenses.

Pure Python, no I/O: ``parse_conversation("breakfast 80, bus 30", now)`` returns
two :class:`ParsedExpense` rows; ``parse_conversation("hi!", now)`` returns an
empty (falsy) :class:`ParseResult`.

The pipeline, one small function per step (each step's code in its own module):

1. NFKC-normalise (full-width digits, ``＄``, ``，`` become ASCII), turn Chinese
   numerals into digits (before a currency unit, "一百二十元", or standing alone with
   a unit character, "計程車 兩百五", "三千二"; never inside a word: 星期三, 五十嵐),
   euro decimal commas ("4,50€") into points, and split amounts glued to a
   category keyword ("taxi250", "250taxi"; "mp3" and "ps5" stay words):
   :mod:`.numerals`.
2. Give up early on messages with no digit at all, and on questions.
3. Replace every date expression with a one-character private-use marker and
   remember its date, so "11/2" or "2026-11-02" are never read as amounts but
   each item still knows which date was written next to it: :mod:`.dates`,
   :mod:`.markers`.
4. Remove clock times ("3pm", "7-9pm", "15:30", "下午3點", "15時30分"): they are
   never amounts: :mod:`.dates`.
5. Split into items on separators (",", ";", "、", "和", "and", "+", newline ...),
   then glue pieces without an amount back onto a neighbour, so that
   "fish and chips 200" stays one item: :mod:`.pairing`.
6. In each piece, find amount candidates (number + optional currency), drop
   counts ("3 people", "2杯", "3 more") and numbers that name things ("room 402",
   "flight BR 198", "gate 12", "order #12345", "402號") unless a currency is written
   next to them (:mod:`.amounts`), and pair the rest with their words (:mod:`.pairing`,
   :mod:`.descriptions`). Currency words and rounding: :mod:`.currency_words`.

Decisions worth knowing (also covered by tests):

* A bare ``$`` means USD and ``¥``/``￥`` means JPY: both symbols are shared by
  several currencies, and these are the most common readings (even for a TWD
  user: Taiwanese "$120" comes out as USD). Write ``NT$``, ``HK$``,
  ``RMB``/``人民幣`` or an ISO code to be explicit.
* ``元``/``塊``/``块`` (and ``塊錢``) mean "the default currency": in Taiwan they
  are TWD, in mainland China CNY, so the caller's default decides. ``yuan``,
  ``rmb`` and ``人民幣`` always mean CNY; ``円``/``日圓`` always JPY ("電車 230円" is
  230 JPY whatever the default; "電車 230" is the default currency).
* "11/2" is month/day (US and East-Asian order), in the current year, or the
  previous year if that date would be in the future. Explicit years are kept.
* "friday" / "on friday" is the most recent Friday on or before today;
  "last friday" is the most recent one strictly before today. The Chinese
  "上週五" is Friday of the previous Monday-based calendar week.
* "55 x 2" and "2 x 55" are 110 (price times quantity); "coffee x2 120" is 120
  (a quantity next to the words, the number is the total).
* "5號" is the 5th of this month (or last month if still ahead), like "the 5th".
* Amounts are Decimal, quantised half-up to the currency's ISO 4217 minor unit
  (the table in :mod:`aiexpense.domain.currencies`: JPY 0, TWD 2, KWD 3). Items
  that round to zero or exceed :data:`MAX_AMOUNT` are dropped.
* A message ending in "?" or starting with a question word is a question, not
  an expense, even if it contains a number ("is 120 too much for lunch?").
* Descriptions are taken from the NFKC-normalised text (so full-width Latin
  letters come back as ASCII), with amounts, dates and filler words such as
  "spent", "paid", "for", "花了" removed; the user's letter case is kept.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from aiexpense.text.amounts import Candidate
from aiexpense.text.currency_words import minor_unit, quantize_amount
from aiexpense.text.dates import mask_dates, piece_date, remove_times
from aiexpense.text.descriptions import clean_description
from aiexpense.text.numerals import normalise
from aiexpense.text.pairing import merge_amountless, pair, split

__all__ = [
    "MAX_AMOUNT",
    "ParseResult",
    "ParsedExpense",
    "minor_unit",
    "parse_conversation",
    "quantize_amount",
]

#: Anything above this is a typo or a joke, not an expense.
MAX_AMOUNT = Decimal(1_000_000_000)


@dataclass(frozen=True, slots=True)
class ParsedExpense:
    """One expense found in a message. ``amount`` is a positive, quantised Decimal."""

    amount: Decimal
    currency: str
    description: str
    date: dt.date
    confidence: float


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What a message contained. Falsy (and ``is_expense`` False) when it held no expense.

    ``reason`` says why nothing was found ("no_number", "question", "no_amount"),
    so the chat layer can answer "I didn't see an amount" instead of staying silent.
    """

    expenses: tuple[ParsedExpense, ...] = ()
    reason: str = ""

    @property
    def is_expense(self) -> bool:
        return bool(self.expenses)

    def __bool__(self) -> bool:
        return bool(self.expenses)


# --------------------------------------------------------------------------- public API

_DIGIT_RE = re.compile(r"\d")
_CURRENCY_CODE_RE = re.compile(r"[A-Z]{3}")

# Questions: trailing "?", a leading question word, or Chinese question particles.
_QUESTION_RE = re.compile(
    r"\?\s*$"
    r"|^\s*(?:how|what|what's|whats|when|where|why|which|who|did|does|do|is|are|show|list|tell)"
    r"(?![A-Za-z])"
    r"|多少|[嗎吗]\s*$|幾[塊块元次]|几[块元次]",
    re.IGNORECASE,
)


def parse_conversation(
    text: str, now: dt.date | dt.datetime, default_currency: str = "TWD"
) -> ParseResult:
    """Find the expenses in one chat message.

    ``now`` anchors relative dates ("yesterday", "11/2"); ``default_currency`` is
    used when the message names no currency or uses 元/塊.
    """
    today = now.date() if isinstance(now, dt.datetime) else now
    default_currency = default_currency.upper()
    if not _CURRENCY_CODE_RE.fullmatch(default_currency):
        raise ValueError(f"default_currency must be an ISO 4217 code, not {default_currency!r}")
    normalised = normalise(text)
    if not _DIGIT_RE.search(normalised):
        return ParseResult(reason="no_number")  # greetings, emoji, "what's my total?"
    if _QUESTION_RE.search(normalised):
        return ParseResult(reason="question")

    masked, dates = mask_dates(normalised, today)
    masked = remove_times(masked)
    pieces = merge_amountless(split(masked))
    fallback_date = dates[0] if dates else today

    expenses: list[ParsedExpense] = []
    for piece in pieces:
        item_date = piece_date(piece.text, dates, fallback_date)
        for candidate, raw_description, ambiguous in pair(piece):
            expense = _build_expense(
                candidate, raw_description, ambiguous, item_date, default_currency
            )
            if expense is not None:
                expenses.append(expense)
    if not expenses:
        return ParseResult(reason="no_amount")
    return ParseResult(expenses=tuple(expenses))


# --------------------------------------------------------------------------- one item


def _build_expense(
    candidate: Candidate,
    raw_description: str,
    ambiguous: bool,
    date: dt.date,
    default_currency: str,
) -> ParsedExpense | None:
    """Quantise and sanity-check one item; None when the amount is zero or absurd."""
    currency = candidate.currency or default_currency
    amount = quantize_amount(candidate.value, currency)
    if amount <= 0 or amount > MAX_AMOUNT:
        return None
    description = clean_description(raw_description)
    return ParsedExpense(
        amount=amount,
        currency=currency,
        description=description,
        date=date,
        confidence=_confidence(description, candidate, ambiguous),
    )


def _confidence(description: str, candidate: Candidate, ambiguous: bool) -> float:
    """Rough 0..1 score: lower with no description or when we had to guess the amount."""
    score = 0.9 if description else 0.5
    if ambiguous:
        score -= 0.3
    if candidate.explicit:
        score += 0.05
    return round(min(max(score, 0.0), 1.0), 2)
