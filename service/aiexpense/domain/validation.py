"""Input rules, declared once: a :class:`Schema` is a tuple of :class:`Field` s, each a name
and a parser. Parsers take what JSON or a query string gives (so ``"12.50"`` and ``12.50``
both work), return the clean value, and raise ``ValueError`` with a message for people;
the schema adds the field's name. The API and the service share these parsers, so a
webhook calling the service directly gets the same rules as an HTTP client.

Strings are matched with ASCII-only patterns on purpose: ``int()`` and ``Decimal()`` would
also take ``"１２"``, ``"1_000"`` and ``" 12 "``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

from .currencies import MINOR_UNITS
from .errors import InvalidField

MAX_ID: Final = 2**63 - 1  # PostgreSQL bigint
MAX_AMOUNT: Final = Decimal(10) ** 12  # exclusive; the column's CHECK says the same
MIN_DATE: Final = date(1900, 1, 1)
MAX_DATE: Final = date(2100, 12, 31)
MAX_LIMIT: Final = 1000
DEFAULT_LIMIT: Final = 100

_DIGITS = re.compile(r"[0-9]{1,19}")
_DECIMAL = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SLUG = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_PLATFORM = re.compile(r"[a-z][a-z0-9_]{0,31}")
_HEADER_KEY = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,254}")
_ABSENT: Final = object()

Parser = Callable[[Any], Any]
T = TypeVar("T")


# -- parsers ------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    """How JSON would name a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def positive_id(value: Any) -> int:
    """A database id: a whole number 1 .. 2^63-1 (a JSON integer or a string of digits)."""
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"must be a positive whole number, got {_kind(value)}")
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"must be between 1 and {MAX_ID}")
    return value


def limit(value: Any) -> int:
    """How many rows to return: 1 .. MAX_LIMIT."""
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"must be a whole number from 1 to {MAX_LIMIT}")
    return value


def amount(value: Any) -> Decimal:
    """A positive amount below 10^12, exact: a JSON number (parsed as Decimal) or a string.

    Floats are refused: by the time a value is a float it may already be inexact.
    """
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise ValueError(f"must be a decimal number such as 12.50, got {value[:40]!r}")
        value = Decimal(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    elif not isinstance(value, Decimal):
        raise ValueError(f"must be a number or a decimal string, got {_kind(value)}")
    number: Decimal = value
    if not number.is_finite():
        raise ValueError("must be a finite number")
    if number <= 0:
        raise ValueError("must be greater than 0")
    if number >= MAX_AMOUNT:
        raise ValueError(f"must be less than {MAX_AMOUNT:,}")
    return number


def currency(value: Any) -> str:
    """An ISO 4217 code we accept (case-insensitive in, upper case out)."""
    if not isinstance(value, str):
        raise ValueError(f"must be a 3-letter ISO 4217 code, got {_kind(value)}")
    code = value.strip().upper()
    if code not in MINOR_UNITS:
        raise ValueError(f"{value[:40]!r} is not an ISO 4217 currency code we accept")
    return code


def in_currency(value: Decimal, code: str) -> Decimal:
    """``value`` at ``code``'s exponent (12.5 USD -> 12.50), refusing to round it."""
    exponent = Decimal(1).scaleb(-MINOR_UNITS[code])
    exact = value.quantize(exponent)
    if exact != value:
        places = MINOR_UNITS[code]
        raise ValueError(
            f"{code} amounts have {places} decimal place{'' if places == 1 else 's'},"
            f" got {str(value)[:40]}"
        )
    return exact


def day(value: Any) -> date:
    """A calendar date as YYYY-MM-DD (or a ``date``), between 1900-01-01 and 2100-12-31."""
    if isinstance(value, date) and not isinstance(value, datetime):
        if not MIN_DATE <= value <= MAX_DATE:
            raise ValueError(f"must be between {MIN_DATE} and {MAX_DATE}")
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        shown = repr(value[:40]) if isinstance(value, str) else _kind(value)
        raise ValueError(f"must be a date as YYYY-MM-DD, got {shown}")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar date") from None
    if not MIN_DATE <= parsed <= MAX_DATE:
        raise ValueError(f"must be between {MIN_DATE} and {MAX_DATE}")
    return parsed


def slug(value: Any) -> str:
    """A category slug such as ``food`` (whether it exists is the service's question)."""
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise ValueError("must be a category slug such as 'food' (see GET /api/categories)")
    return value


def platform(value: Any) -> str:
    """A platform name: lower-case letters, digits and underscores."""
    if not isinstance(value, str) or not _PLATFORM.fullmatch(value):
        raise ValueError("must be a platform name such as 'line' ([a-z][a-z0-9_]*, at most 32)")
    return value


def text(max_length: int, *, min_length: int = 0) -> Parser:
    """A string, trimmed, of ``min_length`` .. ``max_length`` characters, storable as text."""

    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {_kind(value)}")
        value = value.strip()
        if len(value) < min_length:
            raise ValueError("must not be empty" if min_length == 1 else "is too short")
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, which JSON's \ud800 escapes allow
            raise ValueError("must be valid Unicode text") from None
        text: str = value
        return text

    parse.__doc__ = f"A string of {min_length} to {max_length} characters."
    parse.min_length = min_length  # type: ignore[attr-defined]  # for the OpenAPI document
    parse.max_length = max_length  # type: ignore[attr-defined]
    return parse


def idempotency_key(value: Any) -> str:
    """An ``Idempotency-Key`` header: 1 to 255 printable ASCII characters. The IETF draft
    sends it as a structured-field string (``"8e03978e-..."``); the quotes are optional."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {_kind(value)}")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _HEADER_KEY.fullmatch(value):
        raise ValueError("must be 1 to 255 printable ASCII characters, such as a UUID")
    key: str = value
    return key


external_id = text(256, min_length=1)
display_name = text(200)
description = text(500)
message_id = text(256, min_length=1)


# -- schemas ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    parse: Parser
    required: bool = False
    default: Any = _ABSENT  # used when the field is absent or null; else the key is left out


Check = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Schema:
    fields: tuple[Field, ...]
    checks: tuple[Check, ...] = ()

    def parse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Clean values by field name; raise :class:`InvalidField` at the first problem.

        Unknown fields are refused: a typo such as ``"ammount"`` must not be ignored.
        A null counts as absent.
        """
        known = {f.name for f in self.fields}
        for key in data:
            if key not in known:
                raise InvalidField(
                    str(key)[:64], f"unknown field; expected one of: {', '.join(sorted(known))}"
                )
        out: dict[str, Any] = {}
        for f in self.fields:
            value = data.get(f.name)
            if value is None:
                if f.required:
                    raise InvalidField(f.name, "is required")
                if f.default is not _ABSENT:
                    out[f.name] = f.default
                continue
            out[f.name] = check(f.name, f.parse, value)
        for rule in self.checks:
            rule(out)
        return out


def check(name: str, parse: Callable[[Any], T], value: Any) -> T:
    """``parse(value)``, with a ``ValueError`` turned into ``InvalidField(name, ...)``."""
    try:
        return parse(value)
    except ValueError as exc:
        raise InvalidField(name, str(exc)) from None


def ordered(first: str, second: str) -> Check:
    """``first`` must not come after ``second`` (when both are given)."""

    def rule(values: dict[str, Any]) -> None:
        a, b = values.get(first), values.get(second)
        if a is not None and b is not None and a > b:
            raise InvalidField(first, f"{first} ({a}) is after {second} ({b})")

    return rule


def together(*names: str) -> Check:
    """Either all of ``names`` or none of them."""

    def rule(values: dict[str, Any]) -> None:
        given = [n for n in names if n in values]
        if given and len(given) < len(names):
            missing = next(n for n in names if n not in values)
            raise InvalidField(missing, f"is required with {given[0]}")

    return rule


def not_empty(values: dict[str, Any]) -> None:
    if not values:
        raise InvalidField("body", "nothing to change: give at least one field")


# What the JSON API accepts. Names are the JSON names.

NEW_USER = Schema(
    (
        Field("external_id", external_id, required=True),
        Field("display_name", display_name),
        Field("currency", currency),
    )
)

NEW_EXPENSE = Schema(
    (
        Field("user_id", positive_id, required=True),
        Field("amount", amount, required=True),
        Field("currency", currency),
        Field("category", slug),
        Field("description", description),
        Field("spent_on", day),
    )
)

EXPENSE_CHANGES = Schema(
    (
        Field("amount", amount),
        Field("currency", currency),
        Field("category", slug),
        Field("description", description),
        Field("spent_on", day),
    ),
    checks=(not_empty,),
)

EXPENSE_LIST_QUERY = Schema(
    (
        Field("user_id", positive_id, required=True),
        Field("limit", limit),
        Field("from", day),
        Field("to", day),
    ),
    checks=(together("from", "to"), ordered("from", "to")),
)

PERIOD_QUERY = Schema((Field("from", day), Field("to", day)), checks=(ordered("from", "to"),))
