"""The normalisation step: NFKC, Chinese numerals to digits ("一百二十元" -> "120元"),
amounts glued to a category keyword split off ("taxi250" -> "taxi 250") and euro decimal
commas to points ("4,50€" -> "4.50€"), so the later steps only see ASCII digits.

:func:`chinese_to_int` also reads the counts of Chinese dates ("三天前").
"""

from __future__ import annotations

import re
import unicodedata

from aiexpense.text.lexicon import CATEGORIES
from aiexpense.text.markers import MARKER_RE

# Chinese numerals as a number: before a currency unit ("一百二十元", "兩千塊", "三千円"),
# or standing on their own ("計程車 兩百五", "三千二") when they hold a unit character
# (十百千萬) and no other CJK character follows: inside words (星期三, 五十嵐, 十二月, 兩個)
# they are not numbers. (CJK, the ranges of CJK characters, also closes description gaps.)
CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CN_NUMERAL_CHARS = "零〇一二兩两三四五六七八九十百千萬万"
_CN_NUMERAL_RE = re.compile(
    rf"(?P<num>[{_CN_NUMERAL_CHARS}]+)"
    rf"(?:(?=(?P<unit>\s*(?:塊錢|块钱|塊|块|元|圓|円)))|(?![{CJK}]))"
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


def normalise(text: str) -> str:
    """NFKC (full-width to ASCII), Chinese numerals before 元/塊 and euro commas to digits."""
    normalised = unicodedata.normalize("NFKC", text).strip()
    if MARKER_RE.search(normalised):
        # Private-use characters (the Apple logo, custom emoji) would pass for our date markers.
        normalised = MARKER_RE.sub("", normalised)
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
    return str(chinese_to_int(numeral))


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


def chinese_to_int(numeral: str) -> int:
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
