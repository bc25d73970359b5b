"""How the JSON endpoints write durations, sizes and times: the Go service's formats
(``"2h45m30s"``, ``"500ms"``, ``"45.2MB"``, RFC 3339 UTC), so existing jq scripts keep working."""

from __future__ import annotations

import time

_UNITS = ((3600.0, "h"), (60.0, "m"))
_SUB_SECOND = ((1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String()`` (``2h45m30s``, ``1.5s``, ``500ms``, ``0s``)."""
    if seconds < 0:
        return "-" + go_duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1:
        for size, unit in _SUB_SECOND:  # noqa: B007 (the loop picks both)
            if seconds >= size:
                break
        return f"{_trim(seconds / size)}{unit}"
    out = ""
    rest = seconds
    for size, unit in _UNITS:
        whole = int(rest // size)
        if whole or out:
            out += f"{whole}{unit}"
            rest -= whole * size
    return f"{out}{_trim(rest)}s"


def _trim(value: float) -> str:
    """At most 3 decimals (Go prints up to nanoseconds; milliseconds are plenty here)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def human_bytes(size: float | None) -> str | None:
    """Decimal megabytes as the Go service printed them: ``45.2MB``, ``812.0KB``."""
    if size is None:
        return None
    for factor, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if size >= factor:
            return f"{size / factor:.1f}{unit}"
    return f"{int(size)}B"


def rfc3339(timestamp: float | None) -> str | None:
    """Unix time as RFC 3339 UTC with a ``Z``, to the second (``2024-01-16T10:31:00Z``)."""
    if timestamp is None:
        return None
    # time.gmtime: 2.5x cheaper than a datetime, and the views format one per operation.
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def ms(seconds: float | None) -> float | None:
    """Seconds to milliseconds, rounded to the microsecond."""
    return None if seconds is None else round(seconds * 1000.0, 3)
