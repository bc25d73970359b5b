"""Custom labels on the HTTP series, each bounded whatever a client sends.

    HttpMetricsMiddleware(app, collector=c, labels={
        "service": "checkout",                                          # static
        "tenant": header_label("x-tenant", allowed={"acme", "globex"}), # a request header
        "shop": path_label("shop", allowed={"eu", "us"}),               # a path parameter
        "plan": scope_label(plan_of, allowed={"free", "pro"}),          # a function of the scope
    })

A label that reads the request keeps its value only when it is in ``allowed``; anything
else (a missing header, an unknown value, a function that raised or returned a non-string)
becomes ``other`` (``"other"`` unless given), so a label has at most ``len(allowed) + 1``
values. Labels are read once the app has routed the request (path parameters are known
then), and appear on every per-request series, not on the in-progress gauge.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from starlette.types import Scope

OTHER: Final = "other"
_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True, slots=True)
class Label:
    """A label whose value is read from the request: ``read(scope)`` is bounded by
    ``allowed``, ``other`` standing for every value outside it."""

    read: Callable[[Scope], Any]
    allowed: frozenset[str]
    other: str = OTHER

    def value(self, scope: Scope) -> str:
        try:
            found = self.read(scope)
        except Exception:  # a label must never fail the request it describes
            return self.other
        return found if isinstance(found, str) and found in self.allowed else self.other


def _allowed(allowed: Collection[str], what: str) -> frozenset[str]:
    if isinstance(allowed, str) or not allowed:
        raise ValueError(f"{what}: allowed must be a non-empty collection of strings")
    values = frozenset(allowed)
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{what}: allowed must hold only strings, got {sorted(map(repr, values))}")
    return values


def header_label(header: str, allowed: Collection[str], other: str = OTHER) -> Label:
    """The value of a request header (the first one; names are case-insensitive)."""
    if not isinstance(header, str) or not header:
        raise ValueError(f"header_label: header must be a non-empty string, got {header!r}")
    wanted = header.lower().encode("latin-1")

    def read(scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == wanted:
                return str(value.decode("latin-1"))
        return None

    return Label(read, _allowed(allowed, f"header_label({header!r})"), other)


def path_label(param: str, allowed: Collection[str], other: str = OTHER) -> Label:
    """A path parameter of the matched route (as its convertor made it, turned to text)."""
    if not isinstance(param, str) or not param:
        raise ValueError(f"path_label: param must be a non-empty string, got {param!r}")

    def read(scope: Scope) -> str | None:
        value = scope.get("path_params", {}).get(param)
        return None if value is None else str(value)

    return Label(read, _allowed(allowed, f"path_label({param!r})"), other)


def scope_label(
    func: Callable[[Scope], str | None], allowed: Collection[str], other: str = OTHER
) -> Label:
    """What ``func(scope)`` returns, read after the app has answered (the scope then holds
    the route, the path parameters and whatever the app put there)."""
    if not callable(func):
        raise ValueError(f"scope_label: func must be callable, got {func!r}")
    return Label(func, _allowed(allowed, f"scope_label({func!r})"), other)


def check_labels(
    labels: Mapping[str, str | Label], reserved: Collection[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[int, Label], ...]]:
    """(names, static values with "" where read per request, the per-request Labels by
    position), after checking every name is a Prometheus label name not already taken."""
    if not isinstance(labels, Mapping):
        raise ValueError(f"labels: expected a mapping of name to value, got {labels!r}")
    names, static, dynamic = [], [], []
    for i, (name, spec) in enumerate(labels.items()):
        if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ValueError(f"labels: {name!r} is not a Prometheus label name")
        if name in reserved:
            raise ValueError(f"labels: {name!r} is one of the middleware's own labels")
        if isinstance(spec, Label):
            dynamic.append((i, spec))
            static.append("")
        elif isinstance(spec, str):
            static.append(spec)
        else:
            raise ValueError(
                f"labels: {name!r} must be a string or a Label (header_label, path_label,"
                f" scope_label), got {spec!r}"
            )
        names.append(name)
    return tuple(names), tuple(static), tuple(dynamic)
