"""Dates and clock times in a message: every date expression ("11/2", "2026-11-02",
"yesterday", "last friday", "上週五", "三天前") is replaced by a date marker
(:mod:`aiexpense.text.markers`) and resolved against today; clock times ("3pm", "15:30",
"下午3點") are removed. Neither is ever read as an amount.
"""

from __future__ import annotations

import datetime as dt
import re

from aiexpense.text.currency_words import alternation
from aiexpense.text.markers import MARKER_BASE, MARKER_RE
from aiexpense.text.numerals import chinese_to_int

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
""".replace("FULL_WEEKDAYS", alternation(_WEEKDAYS_FULL))
    .replace("WEEKDAYS", alternation(_WEEKDAYS))
    .replace("MONTHS", alternation(_MONTHS))
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


def remove_times(text: str) -> str:
    """``text`` with every clock time replaced by a space."""
    return _TIME_RE.sub(" ", text)


def mask_dates(text: str, today: dt.date) -> tuple[str, list[dt.date]]:
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
        return chr(MARKER_BASE + len(dates) - 1)

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
        n = int(raw) if raw.isdigit() else chinese_to_int(raw)
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


def piece_date(text: str, dates: list[dt.date], fallback: dt.date) -> dt.date:
    """The first date written inside this piece, else the message's first date, else today."""
    marker = MARKER_RE.search(text)
    return dates[ord(marker[0]) - MARKER_BASE] if marker else fallback
