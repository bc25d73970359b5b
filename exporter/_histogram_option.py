"""The ``histogram=`` option the collector and the HTTP middleware share.

``"classic"`` (the default): prometheus-client histograms with fixed buckets, as before.
``"native"``: native (sparse exponential) histograms only: Prometheus scraping protobuf
stores one series per histogram; text scrapers get ``+Inf``, ``_count`` and ``_sum``.
``"both"``: native buckets with the classic ones kept beside them (text scrapers and
dashboards over ``_bucket`` keep working while Prometheus also stores the native one).
"""

from __future__ import annotations

from typing import Any, Final

from .native.histogram import NativeOptions

HISTOGRAMS: Final = ("classic", "native", "both")


def check_histogram(histogram: Any, native: Any) -> tuple[str, NativeOptions]:
    """The checked ``histogram`` choice and the native options (the defaults if None)."""
    if histogram not in HISTOGRAMS:
        raise ValueError(f"histogram: must be one of {', '.join(HISTOGRAMS)}, got {histogram!r}")
    if native is None:
        native = NativeOptions()
    if not isinstance(native, NativeOptions):
        raise TypeError(f"native: must be NativeOptions or None, got {type(native).__name__}")
    if histogram == "classic" and native != NativeOptions():
        raise ValueError("native: options given but histogram='classic' (use 'native' or 'both')")
    return histogram, native
