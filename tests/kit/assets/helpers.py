"""Specs the kit's asset tests generate from, and the tools they run on the output."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from exporter.assets import Spec, generate, parse_spec, write
from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_SPEC = ROOT / "examples" / "monitoring.toml"
EXAMPLE_OUTPUT = ROOT / "examples" / "monitoring"
URL = "https://runbooks.example.com/billing/runbooks.md"

# Shapes a team might have; "billing" leaves the database out (the judged case).
SPECS: dict[str, dict[str, Any]] = {
    "billing-no-database": {"namespace": "billing", "runbook_url": URL},
    "ledger-database-workers": {
        "namespace": "ledger",
        "job": "ledger-api",
        "runbook_url": URL,
        "parts": {"database": True, "workers": 4, "health_checks": ["ledger_sync", "fx_rates"]},
        "slo": {
            "requests": "operations",
            "operations": ["post_entry", "get_balance"],
            "availability": {"objective": 0.995},
            "latency": {"threshold_seconds": 0.05, "target": 0.98},
        },
        "thresholds": {"slow_operations_exclude": ["nightly_close"], "memory_mb": 256},
        "paging": {"ticket": ["HttpRouteServerErrors"], "labels": {"team": "ledger"}},
    },
    "routes-http-only": {
        "namespace": "edge",
        "runbook_url": URL,
        "parts": {"operations": False, "health": False, "process": False},
        "slo": {
            "routes": ["/v1/items/{item_id}", "/v1/items"],
            "latency": {"threshold_seconds": 0.5, "target": 0.999},
        },
        "thresholds": {"error_ratio": 0.01, "route_error_ratio": 0.6},
    },
}


def spec(name: str) -> Spec:
    return parse_spec(SPECS[name])


def written(spec: Spec, directory: Path, **options: Any) -> Path:
    write(generate(spec, **options), directory)
    return directory


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    tool = require_tool(args[0])
    return subprocess.run([tool, *args[1:]], capture_output=True, text=True, check=False, cwd=cwd)
