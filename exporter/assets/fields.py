"""Reading a spec's tables: a typed reader that notes one problem per bad field under its
dotted path (``spec.slo.availability.objective: must be ...``), and the checks that more than
one table uses. ``spec`` and ``extensions`` both read with it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

SEVERITIES: Final = ("page", "ticket", "warning")
_DURATION: Final = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")

T = TypeVar("T")
Check = Callable[[Any], str | None]
_TYPE_NAMES: Final = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


class Reader:
    """Reads one table of the spec, noting a problem per bad field under its dotted path."""

    def __init__(self, data: Any, path: str, problems: list[str] | None = None) -> None:
        self.path = path
        self.problems = problems if problems is not None else []
        self.present = isinstance(data, Mapping)
        if data is not None and not isinstance(data, Mapping):
            self.problems.append(f"{path}: must be a table, got {show(data)}")
        self._data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        self._known: set[str] = set()

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}.{key}: {message}")

    def section(self, key: str) -> Reader:
        self._known.add(key)
        return Reader(self._data.get(key), f"{self.path}.{key}", self.problems)

    def get(
        self,
        key: str,
        kind: type[T],
        *,
        default: Any = None,
        required: bool = False,
        check: Check | None = None,
    ) -> Any:
        self._known.add(key)
        if key not in self._data:
            if required:
                self.problem(key, "required")
            return default
        value = self._data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(key, f"must be {_TYPE_NAMES[kind]}, got {show(value)}")
            return default
        message = check(value) if check else None
        if message:
            self.problem(key, message)
            return default
        return value

    def reject_unknown(self) -> None:
        for key in self._data:
            if key not in self._known:
                self.problem(key, "unknown field (a typo?)")


def show(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f'"{value}"'


def check_nonempty(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


def check_duration(v: str) -> str | None:
    return None if _DURATION.fullmatch(v) else f'must be a duration like "15s", got {show(v)}'


def check_one_of(options: tuple[str, ...]) -> Check:
    return lambda v: None if v in options else f"must be one of {', '.join(options)}; got {show(v)}"
