"""Reading settings: each variable parsed and checked, every bad one reported, none guessed.

A :class:`Reader` takes values from the command line first (``exporter serve --port``),
then the environment, then the default, and remembers where each came from (for
``exporter check-config``). A bad value does not stop the reading: the reader notes one line
naming the variable, the value and what is allowed (``EXPORTER_DB_POOL_MAX=-3: must be a
whole number >= 1``), hands back the default so reading goes on, and :meth:`Reader.check`
raises :class:`ConfigError` with every line at the end.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TypeVar, overload
from urllib.parse import urlsplit

T = TypeVar("T")
MASK = "****"
UNSET = "(unset)"
_TRUE, _FALSE = ("on", "true", "1", "yes"), ("off", "false", "0", "no")
# Plain ASCII numbers only: Python's int() and float() also take "1_000" and other scripts'
# digits, which no one means in a setting.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class ConfigError(ValueError):
    """Some settings are invalid; ``errors`` holds one line per bad variable."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Entry:
    """One setting as read: its variable, its value as shown, where it came from."""

    name: str
    value: str
    source: str  # "environment", "default", or the flag that set it ("--port")


def _shown(raw: str) -> str:
    # Quote what would otherwise be invisible or ambiguous on the error line.
    plain = raw.isprintable() and not any(c.isspace() for c in raw)
    return raw if raw and plain else repr(raw)


def _bounds(minimum: float | None, maximum: float | None, above: float | None) -> str:
    low = f"> {above:g}" if above is not None else None
    if low is None and minimum is not None:
        low = f">= {minimum:g}"
    if maximum is None:
        return low or ""
    if low is None:
        return f"<= {maximum:g}"
    if above is None:
        return f"from {minimum:g} to {maximum:g}"
    return f"{low} and <= {maximum:g}"


class Reader:
    """Typed, checked reads of settings; see the module docstring."""

    def __init__(
        self,
        environ: Mapping[str, str],
        flags: Mapping[str, str | None] | None = None,
        flag_names: Mapping[str, str] | None = None,
    ) -> None:
        """``flags``: variable -> its value from the command line (None: not given);
        ``flag_names``: variable -> the flag's name, for messages (``--port``)."""
        self._environ = environ
        self._flags = {k: v for k, v in (flags or {}).items() if v is not None}
        self._flag_names = dict(flag_names or {})
        self.entries: dict[str, Entry] = {}
        self.errors: list[str] = []

    # -- the plumbing ----------------------------------------------------------------

    def raw(self, key: str) -> tuple[str | None, str]:
        """(value, source); a blank value counts as unset (12-factor: ``X=`` clears X)."""
        if key in self._flags:
            return str(self._flags[key]), self._flag_names.get(key, key)
        value = self._environ.get(key, "")
        if value.strip():
            return value, "environment"
        return None, "default"

    def note(self, key: str, value: str, source: str) -> None:
        self.entries[key] = Entry(key, value, source)

    def fail(self, key: str, raw: str, allowed: str) -> None:
        """Record one error line: ``NAME=value: allowed``."""
        _, source = self.raw(key)
        name = source if source.startswith("--") else key
        self.errors.append(f"{name}={_shown(raw)}: {allowed}")

    def _default(self, key: str, default: object) -> None:
        self.note(key, UNSET if default is None else str(default), "default")

    # -- typed reads -----------------------------------------------------------------

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        raw, source = self.raw(key)
        if raw is None:
            self._default(key, default)
            return default
        allowed = f"must be a whole number {_bounds(minimum, maximum, None)}".rstrip()
        if not _INTEGER.fullmatch(raw.strip()):
            return self._bad(key, raw, allowed, default)
        value = int(raw.strip())
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            return self._bad(key, raw, allowed, default)
        self.note(key, str(value), source)
        return value

    def number(
        self,
        key: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
    ) -> float:
        """A finite float: nan and inf are refused whatever the bounds."""
        raw, source = self.raw(key)
        if raw is None:
            self._default(key, f"{default:g}")
            return default
        allowed = f"must be a finite number {_bounds(minimum, maximum, above)}".rstrip()
        if not _NUMBER.fullmatch(raw.strip()):  # nan, inf and words fail here
            return self._bad(key, raw, allowed, default)
        value = float(raw.strip())
        if (
            not math.isfinite(value)  # 1e999
            or (minimum is not None and value < minimum)
            or (above is not None and value <= above)
            or (maximum is not None and value > maximum)
        ):
            return self._bad(key, raw, allowed, default)
        self.note(key, f"{value:g}", source)
        return value

    def switch(self, key: str, default: bool) -> bool:
        raw, source = self.raw(key)
        if raw is None:
            self._default(key, "on" if default else "off")
            return default
        word = raw.strip().lower()
        if word not in _TRUE + _FALSE:
            return self._bad(key, raw, "must be on or off (or true/false, yes/no, 1/0)", default)
        self.note(key, "on" if word in _TRUE else "off", source)
        return word in _TRUE

    def choice(self, key: str, default: str, choices: Collection[str], *, allowed: str = "") -> str:
        """One of ``choices``, compared without regard to case; returned as listed."""
        raw, source = self.raw(key)
        if raw is None:
            self._default(key, default)
            return default
        by_lower = {c.lower(): c for c in choices}
        value = by_lower.get(raw.strip().lower())
        if value is None:
            return self._bad(key, raw, allowed or f"must be one of {', '.join(choices)}", default)
        self.note(key, value, source)
        return value

    @overload
    def text(
        self, key: str, default: str, *, pattern: str | None = ..., allowed: str = ...
    ) -> str: ...
    @overload
    def text(
        self, key: str, default: None, *, pattern: str | None = ..., allowed: str = ...
    ) -> str | None: ...
    def text(
        self, key: str, default: str | None, *, pattern: str | None = None, allowed: str = ""
    ) -> str | None:
        """A string, stripped; with ``pattern`` it must match all of it."""
        raw, source = self.raw(key)
        if raw is None:
            self._default(key, default)
            return default
        value = raw.strip()
        if pattern is not None and not re.fullmatch(pattern, value):
            return self._bad(key, raw, allowed or f"must match {pattern}", default)
        self.note(key, value, source)
        return value

    def secret(self, key: str) -> str | None:
        """A credential: None when unset; shown only as ``****``."""
        raw, source = self.raw(key)
        if raw is None:
            self._default(key, None)
            return None
        self.note(key, MASK, source)
        return raw.strip()

    def url(self, key: str, default: str, *, schemes: Collection[str] = ("http", "https")) -> str:
        """An absolute URL with one of ``schemes`` and a host; a trailing ``/`` is dropped."""
        raw, source = self.raw(key)
        if raw is None:
            self._default(key, default)
            return default
        value = raw.strip().rstrip("/")
        allowed = f"must be an absolute {' or '.join(schemes)} URL with a host"
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            return self._bad(key, raw, allowed, default)
        if parts.scheme not in schemes or not parts.hostname or " " in value:
            return self._bad(key, raw, allowed, default)
        self.note(key, value, source)
        return value

    def _bad(self, key: str, raw: str, allowed: str, default: T) -> T:
        self.fail(key, raw, allowed)
        self.note(key, _shown(raw), "invalid")
        return default

    # -- the end -----------------------------------------------------------------------

    def valid(self, *keys: str) -> bool:
        """True when every one of ``keys`` was read without an error (for cross-field rules)."""
        return all(k in self.entries and self.entries[k].source != "invalid" for k in keys)

    def shown(self, key: str) -> str:
        return self.entries[key].value

    def check(self) -> None:
        """Raise :class:`ConfigError` with every error line, if there was any."""
        if self.errors:
            raise ConfigError(list(self.errors))
