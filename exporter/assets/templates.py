"""The few Prometheus template functions the generated annotations use, rendered the way
Prometheus renders them (its template.go), so a rule test can expect the exact text.

Supported: ``{{ $labels.name }}``, ``{{ $value | humanize }}``, ``humanize1024``,
``humanizePercentage``, ``humanizeDuration``. Anything else is refused: an annotation the
tests cannot render would go unproven.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Final

_ACTION: Final = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def _g(v: float) -> str:
    """Go's ``%.4g``."""
    return f"{v:.4g}"


def humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g(v)
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return _g(v) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _g(v) + prefix


def humanize1024(v: float) -> str:
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return _g(v) + prefix


def humanize_percentage(v: float) -> str:
    return _g(v * 100) + "%"


def humanize_duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return _g(v)
    if v == 0:
        return _g(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        whole = int(abs(v))
        s, m, h, d = whole % 60, whole // 60 % 60, whole // 3600 % 24, whole // 86400
        if d:
            return f"{sign}{d}d {h}h {m}m {s}s"
        if h:
            return f"{sign}{h}h {m}m {s}s"
        if m:
            return f"{sign}{m}m {s}s"
        return sign + _g(abs(v)) + "s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _g(v) + prefix + "s"


FUNCTIONS: Final[Mapping[str, Callable[[float], str]]] = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
}


def render(template: str, labels: Mapping[str, str], value: float) -> str:
    """``template`` as Prometheus would render it for an alert with these labels and value."""

    def action(match: re.Match[str]) -> str:
        text = match.group(1)
        if text.startswith("$labels."):
            return labels.get(text.removeprefix("$labels."), "")
        head, _, function = (part.strip() for part in text.partition("|"))
        if head == "$value" and function in FUNCTIONS:
            return FUNCTIONS[function](value)
        raise ValueError(f"unsupported template action {{{{ {text} }}}} in {template!r}")

    return _ACTION.sub(action, template)
