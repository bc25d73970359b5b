"""Operations assets for a service using the kit, generated from a small spec: recording
rules, alerts with promtool proofs, a Grafana dashboard, runbooks, Kubernetes objects and an
Alertmanager route. Needs the ``assets`` extra (``pip install 'aiexpense-exporter[assets]'``).

    from exporter.assets import generate, load_spec, write

    files = generate(load_spec("monitoring.toml"))      # {relative path: text}
    write(files, "ops/")
"""

from typing import Any

from .model import Alert, AlertCase, Extension, Panel, Query, RecordingRule, Row, RunbookSection
from .spec import Spec, SpecError, load_spec, parse_spec

_NEEDS_EXTRA = ("generate", "ruleset", "stale", "write")


def __getattr__(name: str) -> Any:
    """The generating functions, imported on first use: they need the ``assets`` extra
    (PyYAML, grafana-foundation-sdk); the spec and the model do not."""
    if name not in _NEEDS_EXTRA:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from . import files
    except ImportError as exc:
        raise ImportError(
            f"exporter.assets.{name} needs the assets extra: "
            f"pip install 'aiexpense-exporter[assets]' ({exc})"
        ) from exc
    return getattr(files, name)


__all__ = [
    "Alert",
    "AlertCase",
    "Extension",
    "Panel",
    "Query",
    "RecordingRule",
    "Row",
    "RunbookSection",
    "Spec",
    "SpecError",
    "generate",
    "load_spec",
    "parse_spec",
    "ruleset",
    "stale",
    "write",
]
