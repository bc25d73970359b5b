"""The Prometheus Operator's objects: a PrometheusRule holding every rule group, and a
ServiceMonitor scraping the service's pods as job ``spec.job``."""

from __future__ import annotations

import re
from typing import Any

from .rules import RuleSet
from .spec import Spec


def _metadata(spec: Spec) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": spec.job, "labels": {"app.kubernetes.io/name": spec.job}}
    if spec.kubernetes.namespace:
        meta["namespace"] = spec.kubernetes.namespace
    return meta


def prometheus_rule(rules: RuleSet) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _metadata(rules.spec),
        "spec": {"groups": rules.recording_groups() + rules.alert_groups()},
    }


def service_monitor(spec: Spec) -> dict[str, Any]:
    """The job label is the Service's name unless ``jobLabel`` says otherwise; the generated
    rules expect ``spec.job``, so the job is set from a label the Service carries."""
    k = spec.kubernetes
    selector = dict(k.selector) or {"app.kubernetes.io/name": spec.job}
    relabelings: list[dict[str, Any]] = [
        {"targetLabel": "job", "replacement": spec.job, "action": "replace"}
    ]
    # pod labels onto every series of the pod (a canary's track): the source is the pod
    # label's name as service discovery spells it
    relabelings += [
        {
            "sourceLabels": [f"__meta_kubernetes_pod_label_{re.sub(r'[^a-zA-Z0-9_]', '_', pod)}"],
            "targetLabel": target,
            "action": "replace",
        }
        for pod, target in k.pod_labels.items()
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(spec),
        "spec": {
            "selector": {"matchLabels": selector},
            "endpoints": [
                {
                    "port": k.port,
                    "path": k.path,
                    "interval": k.interval,
                    # every series gets job=<spec.job>, whatever the Service is called
                    "relabelings": relabelings,
                }
            ],
        },
    }
