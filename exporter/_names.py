"""Names: the rule every operation name follows (names become label values), and metric names.

A collector binds the names it is given up front (``MetricsCollector(operations=...)``), so
recording them never calls ``labels()``; others are bound on first use, up to a cap, after
which they are counted under ``OVERFLOW``.
"""

from __future__ import annotations

import re
from typing import Final

# Operation names become label values: keep them bounded and predictable.
VALID_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
OVERFLOW: Final = "other"


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid operation name, else raise ``ValueError``."""
    if not isinstance(name, str) or not VALID_NAME.fullmatch(name):
        raise ValueError(
            f"invalid operation name {name!r}: expected [a-z][a-z0-9_]*, at most 64 characters"
        )
    return name


def metric_name(namespace: str, name: str) -> str:
    """``name`` under ``namespace`` (``myapp_name``), or ``name`` alone for no namespace,
    the way prometheus-client builds the names of its own metrics."""
    return f"{namespace}_{name}" if namespace else name
