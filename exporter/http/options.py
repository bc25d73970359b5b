"""The middleware's options, checked once at start-up: a bad one raises ``ValueError``
naming the argument, what it expected and what it got.

Every option is off (or the historical behaviour) by default, and the hot path asks about
an option only when it is on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from re import Pattern
from typing import Any, Final

from .._histogram_option import check_histogram
from ..native.histogram import NativeOptions
from .labels import Label, check_labels
from .naming import METHODS, NAMINGS, SIZE_BUCKETS, Scheme

DEFAULT_EXCLUDE: Final = ("/metrics", "/monitoring")
DEFAULT_OPERATION: Final = "http_request"
STATUS_FORMS: Final = ("code", "class")
UNMATCHED_FORMS: Final = ("group", "drop")


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """The checked form of the middleware's keyword arguments (see HttpMetricsMiddleware)."""

    scheme: Scheme
    buckets: tuple[float, ...]
    exclude: tuple[str, ...]
    skip_methods: frozenset[str]
    skip_paths: tuple[Pattern[str], ...]
    status: str
    unmatched: str
    body_sizes: bool
    size_buckets: tuple[float, ...]
    label_names: tuple[str, ...]
    label_static: tuple[str, ...]
    label_dynamic: tuple[tuple[int, Label], ...]
    exemplars: bool
    operation: str | None
    histogram: str
    native: NativeOptions

    @classmethod
    def check(
        cls,
        *,
        names: str = "kit",
        buckets: Iterable[float] | None = None,
        exclude: Iterable[str] = DEFAULT_EXCLUDE,
        skip_methods: Iterable[str] = (),
        skip_paths: Iterable[str | Pattern[str]] = (),
        status: str = "code",
        unmatched: str = "group",
        body_sizes: bool = False,
        size_buckets: Iterable[float] = SIZE_BUCKETS,
        labels: Mapping[str, str | Label] | None = None,
        exemplars: bool = True,
        operation: str | None = DEFAULT_OPERATION,
        histogram: str = "classic",
        native: NativeOptions | None = None,
    ) -> HttpOptions:
        scheme = _one_of("names", names, tuple(NAMINGS))
        naming = NAMINGS[scheme]
        reserved = [naming.method, naming.route, naming.status, naming.url_scheme, naming.error]
        histogram, native = check_histogram(histogram, native)
        label_names, label_static, label_dynamic = check_labels(
            labels or {}, [r for r in reserved if r]
        )
        return cls(
            scheme=naming,
            buckets=_bounds("buckets", naming.buckets if buckets is None else buckets),
            exclude=_paths("exclude", exclude),
            skip_methods=_methods(skip_methods),
            skip_paths=_patterns(skip_paths),
            status=_one_of("status", status, STATUS_FORMS),
            unmatched=_one_of("unmatched", unmatched, UNMATCHED_FORMS),
            body_sizes=_flag("body_sizes", body_sizes),
            size_buckets=_bounds("size_buckets", size_buckets),
            label_names=label_names,
            label_static=label_static,
            label_dynamic=label_dynamic,
            exemplars=_flag("exemplars", exemplars),
            operation=_operation(operation),
            histogram=histogram,
            native=native,
        )


def _one_of(what: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{what}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def _flag(what: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what}: expected True or False, got {value!r}")
    return value


def _iterable(what: str, value: Any) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValueError(f"{what}: expected a list, got {value!r}")
    return list(value)


def _bounds(what: str, value: Any) -> tuple[float, ...]:
    items = _iterable(what, value)
    try:
        bounds = tuple(float(b) for b in items)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected numbers, got {items!r}") from None
    finite = tuple(b for b in bounds if b != math.inf)
    if not finite or any(math.isnan(b) for b in finite) or list(finite) != sorted(set(finite)):
        raise ValueError(f"{what}: expected increasing finite bounds, got {items!r}")
    return finite


def _paths(what: str, value: Any) -> tuple[str, ...]:
    items = _iterable(what, value)
    for item in items:
        if not isinstance(item, str) or not item.startswith("/"):
            raise ValueError(f"{what}: expected paths starting with '/', got {item!r}")
    return tuple(items)


def _methods(value: Any) -> frozenset[str]:
    items = _iterable("skip_methods", value)
    for item in items:
        if not isinstance(item, str) or item.upper() not in METHODS:
            known = ", ".join(METHODS)
            raise ValueError(f"skip_methods: expected methods from {known}, got {item!r}")
    return frozenset(m.upper() for m in items)


def _patterns(value: Any) -> tuple[Pattern[str], ...]:
    patterns = []
    for item in _iterable("skip_paths", value):
        if isinstance(item, re.Pattern):
            patterns.append(item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"skip_paths: expected regular expressions, got {item!r}")
        try:
            patterns.append(re.compile(item))
        except re.error as exc:
            raise ValueError(f"skip_paths: {item!r} is not a regular expression: {exc}") from None
    return tuple(patterns)


def _operation(value: Any) -> str | None:
    from .._names import check_name

    if value is None:
        return None
    try:
        return check_name(value)
    except ValueError as exc:
        raise ValueError(f"operation: {exc}") from None


StatusLabel = Callable[[int], str]


def status_label(form: str) -> StatusLabel:
    """How a status code reads as a label: ``"404"``, or its class ``"4xx"``."""
    if form == "class":
        return lambda code: f"{code // 100}xx"
    return str
