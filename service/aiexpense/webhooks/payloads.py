"""Payload readers: the raw body (at most :data:`MAX_BODY` bytes), the JSON object in it,
and typed access to its fields (:func:`need`, :func:`maybe`, :func:`objects`,
:func:`epoch`): a field a platform sent wrong becomes :class:`~.refusals.Malformed`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from starlette.requests import Request

from .refusals import Malformed, Refusal

# A chat message is a few KB even with Slack's blocks; 256 KiB leaves room for batches of
# events (LINE, Meta) while keeping a flood of junk from costing memory.
MAX_BODY = 256 * 1024


async def read_body(request: Request) -> bytes:
    """The raw body, at most MAX_BODY bytes (413 beyond, counted while reading)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Refusal(413, "body", f"body is larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refusal(413, "body", f"body is larger than {MAX_BODY} bytes")
    return bytes(body)


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (every platform sends one), else :class:`Malformed`."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Malformed("body", f"malformed JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise Malformed("body", "expected a JSON object")
    return data


# Platforms' integers (ids, dates) are 64-bit; JSON allows any size (10^400).
_INT64 = 2**63


def _typed(value: Any, kind: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool) or not isinstance(value, kind):
        return False
    return not isinstance(value, int) or -_INT64 <= value < _INT64


T = TypeVar("T")


@overload
def need(obj: Mapping[str, Any], key: str, kind: type[T], where: str) -> T: ...
@overload
def need(obj: Mapping[str, Any], key: str, kind: tuple[type, ...], where: str) -> Any: ...
def need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]``, which the platform always sends, of JSON type ``kind`` (an integer
    only within 64 bits, never a boolean)."""
    value = obj.get(key)
    if value is None or not _typed(value, kind):
        raise Malformed(f"{where}.{key}", f"{where}.{key} is missing or of the wrong type")
    return value


@overload
def maybe(obj: Any, key: str, kind: type[T]) -> T | None: ...
@overload
def maybe(obj: Any, key: str, kind: tuple[type, ...]) -> Any: ...
def maybe(obj: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    """``obj[key]`` if ``obj`` is an object and the value is of type ``kind``, else None."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    return value if _typed(value, kind) else None


def objects(value: Any, where: str) -> list[dict[str, Any]]:
    """A JSON array of objects (entries, events, changes...)."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Malformed(where, f"{where} must be an array of objects")
    return value


# How far back a message's own date is believed (an edit of an old message keeps its
# date) and how far ahead of our clock. A message dated outside (a forged or broken
# timestamp: 10^400, year 1, year 9999) is dated now: its "yesterday" must not land in
# another century, nor overflow the date arithmetic.
OLDEST_MESSAGE = timedelta(days=10 * 366)
CLOCK_AHEAD = timedelta(days=1)


def epoch(value: Any, per_second: int = 1) -> datetime | None:
    """A platform's Unix time (a number or numeric string, ``per_second`` units a second:
    1000 for milliseconds) as local time; None if unusable or implausible."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        when = datetime.fromtimestamp(float(value) / per_second)
    except (ValueError, OverflowError, OSError):  # "x", 10**400, nan, out of range
        return None
    now = datetime.now()
    return when if now - OLDEST_MESSAGE <= when <= now + CLOCK_AHEAD else None
