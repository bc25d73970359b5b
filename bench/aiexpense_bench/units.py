"""Numbers as people read them: times with 3 significant digits, sizes, ratios."""

from __future__ import annotations

_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns"))


def seconds(value: float | None) -> str:
    """``0.000123`` -> ``"123 us"``; ``None`` -> ``"-"``."""
    if value is None:
        return "-"
    for scale, unit in _TIME_UNITS:
        if abs(value) >= scale:
            return f"{_three(value / scale)} {unit}"
    return f"{_three(value / 1e-9)} ns"


def _three(x: float) -> str:
    """Three significant digits, no exponent."""
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def megabytes(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f} MB"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"
