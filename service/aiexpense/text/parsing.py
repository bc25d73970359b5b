"""Turn a chat message into zero or more expenses.

Pure Python, no I/O: ``parse_conversation("breakfast 80, bus 30", now)`` returns
two :class:`ParsedExpense` rows; ``parse_conversation("hi!", now)`` returns an
empty (falsy) :class:`ParseResult`.

The pipeline, one small function per step:

1. NFKC-normalise (full-width digits, ``＄``, ``，`` become ASCII), turn Chinese
   numerals into digits (before a currency unit, "一百二十元", or standing alone with
   a unit character, "計程車 兩百五", "三千二"; never inside a word: 星期三, 五十嵐),
   euro decimal commas ("4,50€") into points, and split amounts glued to a
   category keyword ("taxi250", "250taxi"; "mp3" and "ps5" stay words).
2. Give up early on messages with no digit at all, and on questions.
3. Replace every date expression with a one-character private-use marker and
   remember its date, so "11/2" or "2026-11-02" are never read as amounts but
   each item still knows which date was written next to it.
4. Remove clock times ("3pm", "7-9pm", "15:30", "下午3點", "15時30分"): they are
   never amounts.
5. Split into items on separators (",", ";", "、", "和", "and", "+", newline ...),
   then glue pieces without an amount back onto a neighbour, so that
   "fish and chips 200" stays one item.
6. In each piece, find amount candidates (number + optional currency), drop
   counts ("3 people", "2杯", "3 more") and numbers that name things ("room 402",
   "flight BR 198", "gate 12", "order #12345", "402號") unless a currency is written
   next to them, and pair the rest with their words.

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
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from aiexpense.domain.currencies import MINOR_UNITS
from aiexpense.text.lexicon import CATEGORIES

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


# --------------------------------------------------------------------------- currencies


# ISO codes we recognise next to a number ("120 TWD", "usd5"). Kept short on
# purpose: every three-letter word here stops being description text.
_ISO_CODES = frozenset(
    {
        "TWD",
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "CNY",
        "HKD",
        "KRW",
        "SGD",
        "AUD",
        "CAD",
        "NZD",
        "CHF",
        "THB",
        "MYR",
        "INR",
        "VND",
    }
)

# Written before the number. "$" alone is USD: see the module docstring.
_PREFIXES = {
    "nt$": "TWD",
    "nt": "TWD",
    "ntd": "TWD",
    "us$": "USD",
    "hk$": "HKD",
    "au$": "AUD",
    "a$": "AUD",
    "ca$": "CAD",
    "c$": "CAD",
    "s$": "SGD",
    "rmb": "CNY",
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₩": "KRW",
    "₹": "INR",
    "฿": "THB",
    **{code.lower(): code for code in _ISO_CODES},
}

# Written after the number. ``None`` means "the caller's default currency".
_SUFFIXES: dict[str, str | None] = {
    "元": None,
    "塊": None,
    "块": None,
    "塊錢": None,
    "块钱": None,
    "圓": None,
    "nt": "TWD",
    "ntd": "TWD",
    "台幣": "TWD",
    "台币": "TWD",
    "臺幣": "TWD",
    "新台幣": "TWD",
    "新台币": "TWD",
    "dollar": "USD",
    "dollars": "USD",
    "buck": "USD",
    "bucks": "USD",
    "美金": "USD",
    "美元": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "歐元": "EUR",
    "欧元": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "英鎊": "GBP",
    "英镑": "GBP",
    "yen": "JPY",
    "円": "JPY",
    "日圓": "JPY",
    "日元": "JPY",
    "日幣": "JPY",
    "日币": "JPY",
    "yuan": "CNY",
    "rmb": "CNY",
    "人民幣": "CNY",
    "人民币": "CNY",
    "港幣": "HKD",
    "港币": "HKD",
    "韓元": "KRW",
    "韩元": "KRW",
    "baht": "THB",
    # Symbols after the number, as many Europeans write them ("4,50€").
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₩": "KRW",
    **{code.lower(): code for code in _ISO_CODES},
}


def _alternation(words: Iterable[str]) -> str:
    """Regex alternation, longest first so "塊錢" wins over "塊" and "nt$" over "nt"."""
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


def minor_unit(currency: str) -> int:
    """Decimals an amount in ``currency`` is stored with: ISO 4217's, the same table the
    database is seeded from (JPY 0, most 2, KWD 3); 2 for a code it does not know."""
    units = MINOR_UNITS.get(currency.upper())
    return 2 if units is None else units


def quantize_amount(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-up to the minor unit of ``currency`` ("4.505" USD -> "4.51")."""
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP)


# --------------------------------------------------------------------------- regexes

# Chinese numerals as a number: before a currency unit ("一百二十元", "兩千塊", "三千円"),
# or standing on their own ("計程車 兩百五", "三千二") when they hold a unit character
# (十百千萬) and no other CJK character follows: inside words (星期三, 五十嵐, 十二月, 兩個)
# they are not numbers.
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CN_NUMERAL_CHARS = "零〇一二兩两三四五六七八九十百千萬万"
_CN_NUMERAL_RE = re.compile(
    rf"(?P<num>[{_CN_NUMERAL_CHARS}]+)"
    rf"(?:(?=(?P<unit>\s*(?:塊錢|块钱|塊|块|元|圓|円)))|(?![{_CJK}]))"
)
_CN_UNIT_CHARS = frozenset("十百千萬万")

# Amounts glued to a word ("taxi250", "250taxi", "lunch120元"): split when the word is a
# category keyword, so "mp3", "ps5", "iphone15" or "BR198" stay words.
_GLUED_HINT_RE = re.compile(r"[A-Za-z]\d|\d[A-Za-z]")
_GLUED_RE = re.compile(
    r"(?<![A-Za-z])(?P<w1>[A-Za-z]{3,})(?P<n1>\d+(?:\.\d+)?)(?![A-Za-z\d]|\.\d)"
    r"|(?<![A-Za-z\d.])(?P<n2>\d+(?:\.\d+)?)(?P<w2>[A-Za-z]{3,})(?![A-Za-z])"
)
_GLUE_WORDS = frozenset(
    word for c in CATEGORIES for word in c.keywords if word.isascii() and word.isalpha()
)

# Euro prices are often written with a decimal comma ("4,50€", "€ 3,20"). Only next to
# a euro sign or code: elsewhere "80,30" is two items and "1,200" a thousands separator.
_EURO_DECIMAL_COMMA_RE = re.compile(
    r"(?<=€)(\s?\d+),(\d{1,2})(?!\d)|(?<![\d,])(\d+),(\d{1,2})(?=\s?(?:€|eur\b|euros?\b))",
    re.IGNORECASE,
)

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

_MONTHS = {
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
}
_WEEKDAYS_FULL = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
# Abbreviations only count after "last"/"on"/"this": bare "sat" and "sun" are words.
_WEEKDAYS = {
    **_WEEKDAYS_FULL,
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_CN_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_SMALL_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_RELATIVE_DAYS = {
    "today": 0,
    "tonight": 0,
    "this morning": 0,
    "this afternoon": 0,
    "this evening": 0,
    "yesterday": -1,
    "yday": -1,
    "last night": -1,
    "day before yesterday": -2,
    "the day before yesterday": -2,
    "tomorrow": 1,
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "昨晚": -1,
    "今天": 0,
    "今日": 0,
    "今晚": 0,
    "今早": 0,
    "明天": 1,
}

# Every date form is one branch with a named group that _date_for() dispatches on, so a
# message is scanned once. Invalid dates (13/45) are left as text.
# Dates written with digits or in Chinese:
_NUMERIC_OR_CHINESE_DATES = r"""
      (?P<iso>(?<!\d)(?P<iso_y>\d{4})[-/.](?P<iso_m>\d{1,2})[-/.](?P<iso_d>\d{1,2})(?!\d))
    | (?P<cn>(?:(?P<cn_y>\d{4})\s*年\s*)?(?P<cn_m>\d{1,2})\s*月\s*(?P<cn_d>\d{1,2})\s*[日號号]?)
    | (?P<md>(?<![\d/.$])(?P<md_m>\d{1,2})/(?P<md_d>\d{1,2})(?![\d/]))
    | (?P<cndom>(?<![\d.])(?P<cndom_d>\d{1,2})\s*[號号](?![碼码]))
    | (?P<cnrel>(?P<cnrel_day>大前天|前天|昨天|昨日|昨晚|今天|今日|今晚|今早|明天)
        (?:早上|上午|中午|下午|晚上|傍晚|凌晨)?)
    | (?P<cnago>(?P<cnago_n>\d{1,3}|[一二兩两三四五六七八九十]+)\s*
        (?P<cnago_unit>天|個?星期|个?星期|週|周|個?禮拜|个?礼拜)前)
    | (?P<cnwd>(?P<cnwd_q>上上|上|這|这|本)?[個个]?(?:星期|禮拜|礼拜|週|周)
        (?P<cnwd_n>[一二三四五六日天]))
"""
# Dates that need an English word:
_ENGLISH_DATES = (
    r"""
      (?P<mname>\b(?P<mn_m>MONTHS)\.?\s+(?P<mn_d>\d{1,2})(?:st|nd|rd|th)?\b
        (?:,?\s+(?P<mn_y>\d{4})\b)?)
    | (?P<dmname>\b(?P<dm_d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<dm_m>MONTHS)\b\.?
        (?:,?\s+(?P<dm_y>\d{4})\b)?)
    | (?P<dom>\b(?:on\s+)?the\s+(?P<dom_d>\d{1,2})(?:st|nd|rd|th)\b)
    | (?P<ago>\b(?P<ago_n>\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten)
        \s+(?P<ago_unit>day|week)s?\s+ago\b)
    | (?P<rel>\b(?:(?:the\s+)?day\s+before\s+yesterday|yesterday|yday|today|tonight
        |last\s+night|this\s+(?:morning|afternoon|evening)|tomorrow)\b)
    | (?P<wd>\b(?P<wd_q>last|past|on|this)\s+(?P<wd_n>WEEKDAYS)\b)
    | (?P<wdf>\b(?P<wdf_n>FULL_WEEKDAYS)\b)
""".replace("FULL_WEEKDAYS", _alternation(_WEEKDAYS_FULL))
    .replace("WEEKDAYS", _alternation(_WEEKDAYS))
    .replace("MONTHS", _alternation(_MONTHS))
)
# Every English date above contains one of these (months and weekdays by their first
# three letters). The English branches are the slowest part of the parser - they are
# tried at every letter - so messages without any of these words skip them.
_ENGLISH_DATE_HINTS = (
    *sorted({name[:3] for name in (*_MONTHS, *_WEEKDAYS)}),
    "the",
    "ago",
    "yesterday",
    "yday",
    "today",
    "tonight",
    "tomorrow",
    "night",
    "morning",
    "afternoon",
    "evening",
)
_DATE_RE = re.compile(_NUMERIC_OR_CHINESE_DATES + "|" + _ENGLISH_DATES, re.IGNORECASE | re.VERBOSE)
_NON_ENGLISH_DATE_RE = re.compile(_NUMERIC_OR_CHINESE_DATES, re.IGNORECASE | re.VERBOSE)

# Clock times are never amounts. "at 3" only for plausible hours, and not when a
# currency follows ("bought it at 3k").
_TIME_RE = re.compile(
    r"""
      (?<![\d.:/])\d{1,2}:\d{2}(?::\d{2})?(?:\s*[ap]\.?m\b\.?)?(?![\d:])
    | (?<![\d.:/])(?:\d{1,2}(?::\d{2})?\s*[-–~]\s*)?\d{1,2}\s*(?:[ap]\.m\.|[ap]m\b)  # 7-9pm
    | \bat\s+(?:[01]?\d|2[0-4])(?::[0-5]\d)?(?:\s*(?:[ap]\.m\.|[ap]m\b|o'?clock\b))?
        (?![\d\-./%:]|\s*(?:[k萬万千元塊块]|dollars?\b|bucks?\b|usd\b|twd\b|ntd\b))
    | (?<![\d.])\d{1,2}\s*o'?clock\b
    | (?:早上|上午|中午|下午|晚上|凌晨|傍晚|午前|午後)?\d{1,2}\s*
        (?:[點点](?:\s*\d{1,2}\s*分|半|鐘|钟)?           # 下午3點半
          |[時时](?:\s*\d{1,2}\s*分|半)?(?!間|间|代))      # 15時30分 (not 3時間: hours)
    """,
    re.IGNORECASE | re.VERBOSE,
)

# Item separators. A comma between digits followed by exactly three digits is a
# thousands separator ("1,200.50") and does not split. Pieces that end up without
# an amount are glued back, so splitting "和牛" or "fish and chips" is harmless.
_SPLIT_RE = re.compile(
    r"""
    (\s*(?:
        [\n;、。+&|]
      | (?<!\d),|,(?!\d{3}(?!\d))
      | (?<!\bno)(?<!\bnr)\.(?=\s|$)                # a full stop, not "No. 5"
      | \b(?:and|plus)\b
      | 和|還有|还有|以及|跟|加上
    )\s*)
    """,
    re.IGNORECASE | re.VERBOSE,
)

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
    """.replace("WORD_PREFIXES", _alternation(p for p in _PREFIXES if p[0].isalpha()))
    .replace("SYMBOL_PREFIXES", _alternation(p for p in _PREFIXES if not p[0].isalpha()))
    .replace("SUFFIXES", _alternation(_SUFFIXES)),
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

# Private-use characters stand in for the dates cut out of the text.
_MARKER_BASE = 0xE000
_MARKER_RE = re.compile("[\ue000-\uf8ff]")
# A gap left by a removed amount/date between two CJK characters closes up
# ("花了120買午餐" -> "花了買午餐"); anywhere else it becomes a single space.
_CJK_GAP_RE = re.compile(rf"(?<=[{_CJK}])\s*\x01[\s\x01]*(?=[{_CJK}])")
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


# --------------------------------------------------------------------------- public API


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
    normalised = _normalise(text)
    if not _DIGIT_RE.search(normalised):
        return ParseResult(reason="no_number")  # greetings, emoji, "what's my total?"
    if _QUESTION_RE.search(normalised):
        return ParseResult(reason="question")

    masked, dates = _mask_dates(normalised, today)
    masked = _TIME_RE.sub(" ", masked)
    pieces = _merge_amountless(_split(masked))
    fallback_date = dates[0] if dates else today

    expenses: list[ParsedExpense] = []
    for piece in pieces:
        piece_date = _piece_date(piece.text, dates, fallback_date)
        for candidate, raw_description, ambiguous in _pair(piece):
            expense = _build_expense(
                candidate, raw_description, ambiguous, piece_date, default_currency
            )
            if expense is not None:
                expenses.append(expense)
    if not expenses:
        return ParseResult(reason="no_amount")
    return ParseResult(expenses=tuple(expenses))


# --------------------------------------------------------------------------- steps


def _normalise(text: str) -> str:
    """NFKC (full-width to ASCII), Chinese numerals before 元/塊 and euro commas to digits."""
    normalised = unicodedata.normalize("NFKC", text).strip()
    if _MARKER_RE.search(normalised):
        # Private-use characters (the Apple logo, custom emoji) would pass for our date markers.
        normalised = _MARKER_RE.sub("", normalised)
    if _CN_NUMERAL_RE.search(normalised):
        normalised = _CN_NUMERAL_RE.sub(_chinese_number, normalised)
    if _GLUED_HINT_RE.search(normalised):
        normalised = _GLUED_RE.sub(_unglue, normalised)
    if "," in normalised and _EURO_DECIMAL_COMMA_RE.search(normalised):
        normalised = _EURO_DECIMAL_COMMA_RE.sub(_euro_decimal_point, normalised)
    return normalised


def _chinese_number(match: re.Match[str]) -> str:
    """A run of Chinese numerals as digits, when it is a number (see _CN_NUMERAL_RE)."""
    numeral = match["num"]
    if match["unit"] is None and (len(numeral) < 2 or _CN_UNIT_CHARS.isdisjoint(numeral)):
        return numeral
    return str(_chinese_to_int(numeral))


def _unglue(match: re.Match[str]) -> str:
    """ "taxi250" -> "taxi 250" when the word is a category keyword; else unchanged."""
    word, number = (match["w1"], match["n1"]) if match["w1"] else (match["w2"], match["n2"])
    if word.lower() not in _GLUE_WORDS:
        return match[0]
    return f"{word} {number}" if match["w1"] else f"{number} {word}"


def _euro_decimal_point(match: re.Match[str]) -> str:
    """Turn the decimal comma of "4,50" into a point (only called next to a euro sign)."""
    whole, cents = (match[1], match[2]) if match[1] is not None else (match[3], match[4])
    return f"{whole}.{cents}"


_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "兩": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_MYRIADS = {"萬": 10_000, "万": 10_000}


def _chinese_to_int(numeral: str) -> int:
    """Chinese numeral to int, including the colloquial "一百二" (=120) and "兩萬五" (=25000)."""
    if not any(ch in _CN_UNITS or ch in _CN_MYRIADS for ch in numeral):
        # Digit by digit, as in "一二〇".
        return int("".join(str(_CN_DIGITS[ch]) for ch in numeral))
    total = section = 0
    digit: int | None = None
    last_unit = 1
    for ch in numeral:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
            if digit == 0:
                last_unit = 10  # "一百零五": what follows a zero is plain ones
        elif ch in _CN_UNITS:
            last_unit = _CN_UNITS[ch]
            section += (1 if digit is None else digit) * last_unit  # bare "十" is 10
            digit = None
        else:
            total += (section + (digit or 0)) * _CN_MYRIADS[ch]
            section, digit, last_unit = 0, None, _CN_MYRIADS[ch]
    if digit:
        # A trailing digit counts in the unit below the last one: 一百二 = 120.
        section += digit * max(last_unit // 10, 1)
    return total + section


def _mask_dates(text: str, today: dt.date) -> tuple[str, list[dt.date]]:
    """Replace each date expression with a marker character; return the dates in order."""
    dates: list[dt.date] = []

    def replace(match: re.Match[str]) -> str:
        try:
            found = _date_for(match, today)
        except OverflowError:  # "yesterday" of 0001-01-01, "tomorrow" of 9999-12-31
            found = None
        if found is None:
            return match[0]
        dates.append(found)
        return chr(_MARKER_BASE + len(dates) - 1)

    lowered = text.lower()
    english = any(hint in lowered for hint in _ENGLISH_DATE_HINTS)
    return (_DATE_RE if english else _NON_ENGLISH_DATE_RE).sub(replace, text), dates


def _date_for(match: re.Match[str], today: dt.date) -> dt.date | None:
    """The date one _DATE_RE match stands for, or None if it is not a real date."""
    kind = match.lastgroup
    g = match.group
    if kind == "iso":
        return _safe_date(int(g("iso_y")), int(g("iso_m")), int(g("iso_d")))
    if kind == "cn":
        return _month_day(int(g("cn_m")), int(g("cn_d")), g("cn_y"), today)
    if kind == "md":
        return _month_day(int(g("md_m")), int(g("md_d")), None, today)
    if kind == "mname":
        return _month_day(_MONTHS[g("mn_m").lower()], int(g("mn_d")), g("mn_y"), today)
    if kind == "dmname":
        return _month_day(_MONTHS[g("dm_m").lower()], int(g("dm_d")), g("dm_y"), today)
    if kind in ("dom", "cndom"):
        return _day_of_month(int(g(f"{kind}_d")), today)
    if kind == "ago":
        count = g("ago_n").lower()
        n = _SMALL_NUMBER_WORDS[count] if count in _SMALL_NUMBER_WORDS else int(count)
        return today - dt.timedelta(days=n * (7 if g("ago_unit").lower() == "week" else 1))
    if kind == "rel":
        key = " ".join(match[0].lower().split())
        return today + dt.timedelta(days=_RELATIVE_DAYS[key])
    if kind == "cnrel":
        return today + dt.timedelta(days=_RELATIVE_DAYS[g("cnrel_day")])
    if kind == "wd":
        strict = g("wd_q").lower() in ("last", "past")
        return _previous_weekday(today, _WEEKDAYS[g("wd_n").lower()], strict=strict)
    if kind == "wdf":
        return _previous_weekday(today, _WEEKDAYS[g("wdf_n").lower()], strict=False)
    if kind == "cnago":
        raw = g("cnago_n")
        n = int(raw) if raw.isdigit() else _chinese_to_int(raw)
        return today - dt.timedelta(days=n * (1 if g("cnago_unit") == "天" else 7))
    if kind == "cnwd":
        return _chinese_weekday(today, g("cnwd_q") or "", _CN_WEEKDAYS[g("cnwd_n")])
    return None


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _month_day(month: int, day: int, year: str | None, today: dt.date) -> dt.date | None:
    """Month/day in the given year, else the latest such date that is not in the future."""
    if year is not None:
        return _safe_date(int(year), month, day)
    found = _safe_date(today.year, month, day)
    if found is not None and found > today:
        found = _safe_date(today.year - 1, month, day)
    elif found is None and month == 2 and day == 29:
        found = _safe_date(today.year - 1, month, day)  # leap day from a past leap year
    return found


def _day_of_month(day: int, today: dt.date) -> dt.date | None:
    """Day ``day`` ("the 20th") of this month, or of last month if it has not come yet."""
    if day <= today.day:
        return _safe_date(today.year, today.month, day)
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return _safe_date(year, month, day)


def _previous_weekday(today: dt.date, weekday: int, *, strict: bool) -> dt.date:
    back = (today.weekday() - weekday) % 7
    if strict and back == 0:
        back = 7
    return today - dt.timedelta(days=back)


def _chinese_weekday(today: dt.date, qualifier: str, weekday: int) -> dt.date:
    """上週五 = Friday of last calendar week (Mon-Sun); bare 週五 = latest Friday so far."""
    if not qualifier:
        return _previous_weekday(today, weekday, strict=False)
    monday = today - dt.timedelta(days=today.weekday())
    weeks_back = {"上上": 2, "上": 1}.get(qualifier, 0)
    return monday - dt.timedelta(weeks=weeks_back) + dt.timedelta(days=weekday)


def _piece_date(text: str, dates: list[dt.date], fallback: dt.date) -> dt.date:
    """The first date written inside this piece, else the message's first date, else today."""
    marker = _MARKER_RE.search(text)
    return dates[ord(marker[0]) - _MARKER_BASE] if marker else fallback


@dataclass(slots=True)
class _Candidate:
    """A number in a piece that looks like money. Offsets are relative to the piece."""

    start: int
    end: int
    value: Decimal
    currency: str | None  # None: no currency written, or 元/塊 (the default currency)
    explicit: bool  # a currency symbol, code or unit was written next to it


@dataclass(slots=True)
class _Piece:
    text: str
    candidates: list[_Candidate]


def _split(text: str) -> list[tuple[_Piece, str]]:
    """Split into (piece, separator-after-it) pairs, finding amount candidates in each."""
    parts = _SPLIT_RE.split(text)
    pieces = []
    for i in range(0, len(parts), 2):
        piece_text = parts[i]
        separator = parts[i + 1] if i + 1 < len(parts) else ""
        pieces.append((_Piece(piece_text, _candidates(piece_text)), separator))
    return pieces


def _merge_amountless(split: list[tuple[_Piece, str]]) -> list[_Piece]:
    """Glue pieces without an amount onto the next piece (or the previous one at the end).

    Keeps "fish and chips 200" and "yesterday, lunch 120" whole while
    "breakfast 80, bus 30" stays two items.
    """
    merged: list[_Piece] = []
    pending = ""  # amountless text waiting for the next piece with an amount
    gap = ""  # separator after the last piece with an amount
    for piece, separator in split:
        if not piece.candidates:
            pending += piece.text + separator
            continue
        shift = len(pending)
        for candidate in piece.candidates:
            candidate.start += shift
            candidate.end += shift
        merged.append(_Piece(pending + piece.text, piece.candidates))
        pending, gap = "", separator
    if merged and pending.strip():
        # Trailing words without an amount ("coffee 55 and a muffin") join the last item.
        last = merged[-1]
        merged[-1] = _Piece(last.text + gap + pending, last.candidates)
    return merged


def _candidates(text: str) -> list[_Candidate]:
    found: list[_Candidate] = []
    for match in _AMOUNT_RE.finditer(text):
        if found and match.start() < found[-1].end:
            continue  # already part of a product such as "2 x 55"
        candidate = _candidate(text, match)
        if candidate is not None:
            found.append(candidate)
    return found


def _candidate(text: str, match: re.Match[str]) -> _Candidate | None:
    """Turn an _AMOUNT_RE match into a candidate, or None when it is a count or a code."""
    word_pre, sym_pre, num, mult, post = match.group("pre", "sym", "num", "mult", "post")
    pre = word_pre or sym_pre
    explicit = bool(pre or post)
    if pre:
        currency: str | None = _PREFIXES[pre.lower()]
    elif post:
        currency = _SUFFIXES[post.lower()]
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
    return _Candidate(start, end, value, currency, explicit)


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


def _pair(piece: _Piece) -> list[tuple[_Candidate, str, bool]]:
    """Match amounts with their words: (candidate, raw description, ambiguous?) per item.

    One amount: everything else is the description. Several: "breakfast 80 bus 30"
    (words first) or "$5 coffee $3 bagel" (amounts first) become several items;
    otherwise one amount is picked and the other numbers stay in the description.
    """
    text, candidates = piece.text, piece.candidates
    if len(candidates) == 1:
        return [(candidates[0], _cut(text, candidates[0]), False)]

    explicit = [c for c in candidates if c.explicit]
    if len(explicit) == 1:
        return [(explicit[0], _cut(text, explicit[0]), False)]

    bounds = [0, *(x for c in candidates for x in (c.start, c.end)), len(text)]
    chunks = [text[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2)]
    meaningful = [bool(_clean_description(chunk)) for chunk in chunks]
    if all(meaningful[:-1]) and not meaningful[-1]:  # words 80 words 30
        return [(c, chunks[i], False) for i, c in enumerate(candidates)]
    if not meaningful[0] and all(meaningful[1:]):  # 80 words 30 words
        return [(c, chunks[i + 1], False) for i, c in enumerate(candidates)]

    # Ambiguous ("2 coffees 110", "110 for 2 coffees"): prefer the number that ends
    # the piece, then the one that starts it, then the largest.
    pool = explicit or candidates
    if not meaningful[-1] and pool[-1] is candidates[-1]:
        chosen = pool[-1]
    elif not meaningful[0] and pool[0] is candidates[0]:
        chosen = pool[0]
    else:
        chosen = max(pool, key=lambda c: c.value)
    return [(chosen, _cut(text, chosen), True)]


def _cut(text: str, candidate: _Candidate) -> str:
    """The piece text with the candidate removed, leaving a gap marker."""
    return text[: candidate.start] + "\x01" + text[candidate.end :]


def _clean_description(raw: str) -> str:
    """Drop date markers, close gaps, trim punctuation and filler words at both ends."""
    text = _MARKER_RE.sub("\x01", raw)
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


def _build_expense(
    candidate: _Candidate,
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
    description = _clean_description(raw_description)
    return ParsedExpense(
        amount=amount,
        currency=currency,
        description=description,
        date=date,
        confidence=_confidence(description, candidate, ambiguous),
    )


def _confidence(description: str, candidate: _Candidate, ambiguous: bool) -> float:
    """Rough 0..1 score: lower with no description or when we had to guess the amount."""
    score = 0.9 if description else 0.5
    if ambiguous:
        score -= 0.3
    if candidate.explicit:
        score += 0.05
    return round(min(max(score, 0.0), 1.0), 2)
