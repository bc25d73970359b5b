"""Regenerate the JSON Schemas of ServiceMonitor and PrometheusRule in this folder.

The tests validate deploy/kubernetes/'s monitoring.coreos.com/v1 objects offline, so the
schemas live here as data. Their source is the Prometheus Operator's own CRDs, as
cloudcoil-models-prometheus-operator ships them: typed models generated from the CRDs'
openAPIV3Schema (field names, required fields, enums and patterns kept). Pydantic turns the
models back into JSON Schema; every object then gets `additionalProperties: false`, the
strictness `kubectl apply` (field validation Strict) and kubernetes-validate's strict mode
apply to built-in kinds. Not a test dependency: run it by hand to move to another version,

    python -m venv /tmp/po && /tmp/po/bin/pip install cloudcoil-models-prometheus-operator==0.80.1.0
    /tmp/po/bin/python tests/data/prometheus-operator/make_schemas.py
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cloudcoil.models.prometheus_operator.v1 import PrometheusRule, ServiceMonitor

HERE = Path(__file__).resolve().parent


def strict(node: Any) -> Any:
    """Close every object that lists its properties, recursively; and write Go's
    ``^(?i)...`` patterns the way Python's re (jsonschema's engine) accepts, ``(?i)^...``."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        if isinstance(node.get("pattern"), str) and node["pattern"].startswith("^(?i)"):
            node["pattern"] = "(?i)^" + node["pattern"][len("^(?i)") :]
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)
    return node


def main() -> None:
    package = "cloudcoil-models-prometheus-operator"
    source = f"{package} {version(package)}"
    for model in (ServiceMonitor, PrometheusRule):
        schema = strict(model.model_json_schema(by_alias=True, mode="validation"))
        schema["$comment"] = f"monitoring.coreos.com/v1 {model.__name__}, from {source}"
        path = HERE / f"{model.__name__.lower()}.schema.json"
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
