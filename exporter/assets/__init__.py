"""Operations assets for a service using the kit, generated from a small spec: recording
rules, alerts with promtool proofs, a Grafana dashboard, runbooks, Kubernetes objects and an
Alertmanager route. Needs the ``assets`` extra (``pip install 'aiexpense-exporter[assets]'``).

    from exporter.assets import generate, load_spec, write

    files = generate(load_spec("monitoring.toml"))      # {relative path: text}
    write(files, "ops/")
"""

from .generate import generate, ruleset, stale, write
from .model import Alert, AlertCase, Extension, Panel, Query, RecordingRule, Row, RunbookSection
from .spec import Spec, SpecError, load_spec, parse_spec

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
