"""Small helpers for the promtool proofs the extensions carry: a case for ``AlertCase`` and
a test group that only stays quiet (input on which an alert must not fire at all)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.assets import AlertCase


def case(
    title: str,
    series: Mapping[str, str],
    *,
    quiet: tuple[str, ...],
    firing: tuple[str, ...],
    resolved: tuple[str, ...],
    labels: Mapping[str, str],
    value: float,
) -> AlertCase:
    """An alert's proof: ``series`` (promtool series -> values, one sample a minute) on which
    it is quiet, fires with ``labels`` and ``$value`` = ``value``, then resolves."""
    return AlertCase(title, tuple(series.items()), quiet, firing, resolved, labels, value)


def stays_quiet(
    title: str, alert: str, series: Mapping[str, str], at: tuple[str, ...], **extra: Any
) -> dict[str, Any]:
    """A promtool test group: ``alert`` fires at none of the times ``at``; ``extra`` adds
    keys such as ``promql_expr_test``."""
    return {
        "name": title,
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [{"eval_time": t, "alertname": alert, "exp_alerts": []} for t in at],
        **extra,
    }
