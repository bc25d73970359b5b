"""Currency words: the ISO codes, prefixes ("NT$", "€") and suffixes ("元", "bucks", "円")
written next to a number, and the minor unit an amount is rounded to.

:data:`PREFIXES` and :data:`SUFFIXES` map what is written to an ISO code (a suffix maps to
None for "the caller's default currency"); :func:`alternation` turns such words into a
regex alternation; :func:`minor_unit` and :func:`quantize_amount` round an amount the way
the database stores it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from aiexpense.domain.currencies import MINOR_UNITS

__all__ = ["PREFIXES", "SUFFIXES", "alternation", "minor_unit", "quantize_amount"]


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

# Written before the number. "$" alone is USD: see :mod:`aiexpense.text.parsing`.
PREFIXES = {
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
SUFFIXES: dict[str, str | None] = {
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


def alternation(words: Iterable[str]) -> str:
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
