"""The service's ops assets as the generator gives them: what the stack and end-to-end tests
compare the committed files with, the series the service may be asked for, and the
committed dashboard's queries ready to run against a real Prometheus.

Not importable from tests/kit (it imports the service's extension, aiexpense.ops).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiexpense.ops import EXTENSIONS
from exporter.assets import Spec, generate, load_spec
from exporter.assets.lint import DashboardQuery, queries
from exporter.assets.series import Series

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "service" / "monitoring.toml"
DASHBOARD = ROOT / "grafana" / "dashboards" / "aiexpense-overview.json"
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def spec() -> Spec:
    return load_spec(SPEC_PATH)


def assets() -> dict[str, str]:
    """Every ops file, keyed by its path from the repository root."""
    return generate(spec(), EXTENSIONS)


def service_metrics() -> frozenset[str]:
    """Every series the service exposes: the kit's for its parts, and the extensions' own."""
    own = {name for ext in EXTENSIONS for name in ext.series}
    return Series(spec().namespace).all_exposed(database=spec().parts.database) | own


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_queries(**macros: str) -> list[DashboardQuery]:
    """The committed dashboard's queries for job ``aiexpense``, every instance, with Grafana's
    macros (``rate_interval``, ``range_`` ...) as given."""
    return queries(dashboard(), {"job": spec().job, "datasource": "prometheus"}, **macros)
