"""Amount candidates: the numbers in a piece of a message that look like money (with an
optional currency, multiplier and "x 2" quantity), leaving out counts ("3 people", "2杯"),
quantities ("coffee x2") and numbers that name things ("room 402", "order #12345")
unless a currency is written next to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from aiexpense.text.currency_words import PREFIXES, SUFFIXES, alternation

# An amount: optional currency before, the number (with thousands commas and
# decimals), an optional multiplier (3.5k, 3萬) and an optional currency after.
# Without a prefix the number must not be glued to a letter ("mp3", "iphone15"),
# follow a hyphenated digit ("7-11") or be part of a longer number / ratio / time.
_AMOUNT_RE = re.compile(
    r"""
    (?:
        (?<![A-Za-z])(?P<pre>WORD_PREFIXES)\s?     # NT$ 350, USD25, rmb 45
      | (?P<sym>SYMBOL_PREFIXES)\s?                 # $4.50, € 3
      | (?<![A-Za-z\d./])(?<!\d[-:])               # no currency: a clean left edge
    )
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)
    (?P<mult>\s?k(?![A-Za-z])|[萬万千])?           # 3.5k, 1.5萬
    (?:\s?(?P<post>SUFFIXES))?                     # 120元, 5 bucks, 4.50€
    (?:\s?/\s?(?:month|mo|year|yr|week|wk|day|night|hour|hr|h|person|pp)\b)?  # a rate
    (?![\d:%A-Za-z]|[-./]\d)                      # not 3pm, 50%, 1.2.3, 12/25
    """.replace("WORD_PREFIXES", alternation(p for p in PREFIXES if p[0].isalpha()))
    .replace("SYMBOL_PREFIXES", alternation(p for p in PREFIXES if not p[0].isalpha()))
    .replace("SUFFIXES", alternation(SUFFIXES)),
    re.IGNORECASE | re.VERBOSE,
)
_MULTIPLIERS = {"k": Decimal(1000), "千": Decimal(1000), "萬": Decimal(10000), "万": Decimal(10000)}

# A number followed by one of these is a count or a measure, not money.
_COUNT_AFTER_RE = re.compile(
    r"""
    \s*(?:
        (?:people|persons?|ppl|pax|guests?|friends|kids|children|times?|hours?|hrs?
          |minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|yrs?|nights?
          |km|kms|miles?|kg|kgs|lbs?|g|ml|cm|mm|items?|pcs|pieces?|tickets?|stars?
          |floors?|steps|pages|cups?|bottles?|boxes|bags|packs?|slices|rounds|percent
          |more|extra|left|to\s+go)
        (?![A-Za-z])
      | 個|个|人(?!民)|次|杯|張|张|件|份|碗|瓶|罐|包(?!子)|本|支|隻|只|位|小時|小时|分鐘|分钟
      | 天|晚(?!餐|飯|饭)|夜(?!市)|樓|楼|折|歲|岁|顆|颗|條|条|盒|箱|輛|辆|間|间|堂|節|节
      | 公斤|公里|斤|[號号](?![碼码])|番(?!号|號)?|階|枚|冊|台|匹|泊|名|部屋
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)
# A number that names something rather than costs: "room 402", "flight BR 198", "gate 12",
# "order #12345", "No. 5", "第3". Only without a currency: "room NT$3200" is a price. Read
# from the words before the number with string operations (no regex scan: every
# candidate of every message pays for this).
_REFERENCE_WORDS = frozenset(
    [
        "flight",
        "flt",
        "gate",
        "platform",
        "seat",
        "room",
        "rm",
        "invoice",
        "booking",
        "tracking",
        "confirmation",
        "ref",
        "reference",
        "pnr",
        "apt",
        "apartment",
        "suite",
        "ext",
        "extension",
        "terminal",
        "pier",
        "exit",
        "highway",
        "hwy",
        "route",
        "line",
        "channel",
        "ch",
        "level",
        "version",
        "ver",
        "v",
        "chapter",
        "page",
        "pg",
        "episode",
        "ep",
        "season",
        "week",
        "day",
        "year",
        "class",
        "grade",
        "no",
        "nr",
        "num",
        "number",
        "id",
    ]
)
_REFERENCE_MARKS = ("#", "第", "no.", "nr.")


def _is_reference(text: str, start: int) -> bool:
    """Whether the number at ``start`` follows a reference word (or ``#``, ``第``)."""
    head = text[max(0, start - 32) : start].rstrip().lower()
    if not head:
        return False
    if head.endswith(_REFERENCE_MARKS):
        return True
    words = head.rsplit(None, 2)
    last = words[-1]
    if len(last) == 2 and last.isalpha() and len(words) > 1:  # an airline code: "BR 198"
        last = words[-2]
    return last.rstrip(".") in _REFERENCE_WORDS


# "2 coffees": a small whole number before a plural noun is a quantity.
_PLURAL_AFTER_RE = re.compile(r"\s+([A-Za-z]{2,}s)(?![A-Za-z'])")
# "x2", "× 2", "2 x": multiplication signs next to a number make it a quantity.
_QUANTITY_BEFORE_RE = re.compile(r"(?<![A-Za-z])[x×*]\s?$", re.IGNORECASE)
_QUANTITY_AFTER_RE = re.compile(r"\s?[x×*](?![A-Za-z])", re.IGNORECASE)
# ...unless there is a number on both sides: "55 x 2" and "2 x 55" both cost 110.
_TIMES_AFTER_RE = re.compile(r"\s?[x×*]\s?(\d{1,3})(?![\d.,])", re.IGNORECASE)
_TIMES_BEFORE_RE = re.compile(r"(?<![\d.,])(\d{1,3})\s?[x×*]\s?$", re.IGNORECASE)
_SMALL_QUANTITY = 20


@dataclass(slots=True)
class Candidate:
    """A number in a piece that looks like money. Offsets are relative to the piece."""

    start: int
    end: int
    value: Decimal
    currency: str | None  # None: no currency written, or 元/塊 (the default currency)
    explicit: bool  # a currency symbol, code or unit was written next to it


def candidates(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    for match in _AMOUNT_RE.finditer(text):
        if found and match.start() < found[-1].end:
            continue  # already part of a product such as "2 x 55"
        candidate = _candidate(text, match)
        if candidate is not None:
            found.append(candidate)
    return found


def _candidate(text: str, match: re.Match[str]) -> Candidate | None:
    """Turn an _AMOUNT_RE match into a candidate, or None when it is a count or a code."""
    word_pre, sym_pre, num, mult, post = match.group("pre", "sym", "num", "mult", "post")
    pre = word_pre or sym_pre
    explicit = bool(pre or post)
    if pre:
        currency: str | None = PREFIXES[pre.lower()]
    elif post:
        currency = SUFFIXES[post.lower()]
    else:
        currency = None
    start, end = (match.start() if pre else match.start("num")), match.end()
    if len(num) >= 3 and num[0] == "0" and num[1] != ".":
        return None  # "0912345678": a phone number or an ID, not money
    try:
        value = Decimal(num.replace(",", ""))
    except InvalidOperation:
        return None
    if mult:
        value *= _MULTIPLIERS[mult.strip().lower()]

    times_after = _TIMES_AFTER_RE.match(text, end)
    times_before = None if times_after else _TIMES_BEFORE_RE.search(text, 0, start)
    if times_after:
        value *= int(times_after[1])
        end = times_after.end()
    elif times_before:
        value *= int(times_before[1])
        start = times_before.start()
    elif not explicit and not mult and _is_count(text, num, start, end):
        return None
    return Candidate(start, end, value, currency, explicit)


def _is_count(text: str, num: str, start: int, end: int) -> bool:
    """True for numbers that count or name things rather than cost: "3 people", "2杯",
    "x2", "room 402"."""
    if _COUNT_AFTER_RE.match(text, end) or _is_reference(text, start):
        return True
    if _QUANTITY_BEFORE_RE.search(text, 0, start) or _QUANTITY_AFTER_RE.match(text, end):
        return True
    if num.isdigit() and int(num) <= _SMALL_QUANTITY:
        plural = _PLURAL_AFTER_RE.match(text, end)
        if plural and not plural[1].lower().endswith(("ss", "us", "is")):
            return True
    return False
