"""The team's spec: what the generator needs to know about a service, read from TOML and
validated so that each mistake is one line naming the field.

    spec = load_spec("monitoring.toml")          # SpecError lists every problem at once
    spec = parse_spec({"namespace": "shop", "runbook_url": "https://..."})

Only ``namespace`` and ``runbook_url`` are required; every other field has the default a
service wired as in docs/kit.md needs (HTTP middleware, operations, the health checker, no
database). docs/zero-to-paged.md documents every field.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .._names import VALID_NAME
from ..collector import DEFAULT_BUCKETS
from ..http import HTTP_BUCKETS
from .extensions import parse_extensions
from .fields import (
    SEVERITIES,
    Check,
    Reader,
    check_duration,
    check_nonempty,
    check_one_of,
    show,
)
from .model import Extension

SLI_SOURCES: Final = ("http", "operations")
# A 100% error ratio burns the budget 1/(1 - objective) times too fast; below this objective
# even a total outage could not reach the fastest burn rate (14.4x), and that page would be an
# alert that can never fire.
MIN_OBJECTIVE: Final = 0.95
_NAMESPACE: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LABEL: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ALERT_NAME: Final = re.compile(r"[A-Z][A-Za-z0-9]*")
MIB: Final = 1024 * 1024


class SpecError(ValueError):
    """A spec that cannot be used; ``problems`` holds one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Slo:
    """What counts as a request and the objectives over it (a 30-day period)."""

    source: str = "http"  # "http": the middleware's series; "operations": the collector's
    routes: tuple[str, ...] = ()  # http: only these route templates (all but "unmatched")
    operations: tuple[str, ...] = ()  # operations: these operations (required then)
    availability: float = 0.999
    latency_seconds: float | None = None  # a request slower than this is bad...
    latency_target: float | None = None  # ...and at least this share must not be
    buckets: tuple[float, ...] = HTTP_BUCKETS  # the histogram's bounds (the kit's defaults)


@dataclass(frozen=True)
class Parts:
    """Which parts the service has: an alert or panel about a missing part would be empty."""

    http: bool = True  # HttpMetricsMiddleware
    operations: bool = True  # MetricsCollector records operations
    health: bool = True  # HealthChecker (+ MonitoringHandler)
    database: bool = False  # HealthChecker(pool, ...): db_up, db_ping, pool series
    process: bool = True  # MetricsCollector(process_metrics=True)
    health_checks: tuple[str, ...] = ()  # names given to health.add_check()
    workers: int = 1  # worker processes per target (multiprocess mode)


@dataclass(frozen=True)
class Thresholds:
    """The alerts' own thresholds (the SLO alerts derive theirs from the objectives)."""

    error_ratio: float = 0.005  # HighErrorRate, over the SLO's requests
    min_requests: int = 30  # per 5 minutes, for the ratio alerts to mean anything
    slow_operation_seconds: float = 0.1  # SlowOperations: mean latency per operation
    slow_operations_exclude: tuple[str, ...] = ()
    memory_bytes: int = 500 * MIB  # HighMemory, per worker process
    route_error_ratio: float = 0.05  # HttpRouteServerErrors: 5xx share of one route
    pool_saturation: float = 0.9  # DatabasePoolSaturated: in use / maximum


@dataclass(frozen=True)
class Paging:
    """Who hears about what: severities by alert name and labels put on every alert."""

    severities: Mapping[str, str] = field(default_factory=dict)  # alert name -> severity
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Alertmanager:
    page_receiver: str = "pager"
    ticket_receiver: str = "tickets"
    page_webhook_url: str | None = None
    ticket_webhook_url: str | None = None


@dataclass(frozen=True)
class Kubernetes:
    namespace: str | None = None
    selector: Mapping[str, str] = field(default_factory=dict)  # Service labels to scrape
    port: str = "http"
    path: str = "/metrics"
    interval: str = "15s"
    # pod label -> target label put on every series of the pod (a canary's track, say)
    pod_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    namespace: str
    runbook_url: str  # where runbooks.md is published; anchors are appended
    job: str = ""  # the scrape job (the Service name under the Prometheus Operator)
    title: str = ""
    slo: Slo = field(default_factory=Slo)
    parts: Parts = field(default_factory=Parts)
    thresholds: Thresholds = field(default_factory=Thresholds)
    paging: Paging = field(default_factory=Paging)
    alertmanager: Alertmanager = field(default_factory=Alertmanager)
    kubernetes: Kubernetes = field(default_factory=Kubernetes)
    extensions: tuple[Extension, ...] = ()  # [[extend]] tables: the service's own assets
    files: Mapping[str, str] = field(default_factory=dict)  # generated name -> where it goes

    @property
    def budget(self) -> float:
        return 1.0 - self.slo.availability


def load_spec(path: str | Path) -> Spec:
    """Read and validate the TOML spec at ``path``."""
    text = Path(path).read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_spec(data)


def parse_spec(data: Mapping[str, Any]) -> Spec:
    """A validated ``Spec`` from TOML-shaped data; ``SpecError`` lists every mistake."""
    r = Reader(data, "spec")
    namespace = r.get("namespace", str, required=True, check=_namespace)
    runbook_url = r.get("runbook_url", str, required=True, check=_url)
    job = r.get("job", str, default=namespace or "", check=check_nonempty)
    title = r.get("title", str, default=namespace or "")
    parts = _parts(r.section("parts"))
    slo = _slo(r.section("slo"), parts)
    thresholds = _thresholds(r.section("thresholds"))
    paging = _paging(r.section("paging"))
    alertmanager = _alertmanager(r.section("alertmanager"))
    kubernetes = _kubernetes(r.section("kubernetes"))
    files = r.get("files", dict, default={}, check=_files(namespace or ""))
    r.get("extend", list)  # known; read below
    extensions = parse_extensions(data.get("extend"), "spec.extend", r.problems)
    r.reject_unknown()
    if r.problems:
        raise SpecError(r.problems)
    assert namespace is not None and runbook_url is not None
    return Spec(
        namespace,
        runbook_url,
        job or namespace,
        title or namespace,
        slo,
        parts,
        thresholds,
        paging,
        alertmanager,
        kubernetes,
        extensions,
        dict(files),
    )


# -- sections ---------------------------------------------------------------------------------


def _parts(r: Reader) -> Parts:
    checks = r.get("health_checks", list, default=[], check=_names)
    p = Parts(
        http=r.get("http", bool, default=True),
        operations=r.get("operations", bool, default=True),
        health=r.get("health", bool, default=True),
        database=r.get("database", bool, default=False),
        process=r.get("process", bool, default=True),
        health_checks=tuple(checks),
        workers=r.get("workers", int, default=1, check=_at_least(1)),
    )
    if checks and not p.health:
        r.problem("health_checks", "needs parts.health = true (checks run in the HealthChecker)")
    r.reject_unknown()
    return p


def _slo(r: Reader, parts: Parts) -> Slo:
    source = r.get("requests", str, default="http", check=check_one_of(SLI_SOURCES))
    routes = r.get("routes", list, default=[], check=_routes)
    operations = r.get("operations", list, default=[], check=_names)
    kit_buckets = DEFAULT_BUCKETS if source == "operations" else HTTP_BUCKETS
    buckets = r.get("buckets", list, default=list(kit_buckets), check=_buckets)
    if source == "operations" and not operations:
        r.problem("operations", 'required when requests = "operations" (the user-facing ones)')
    if source == "http" and operations:
        r.problem("operations", 'only with requests = "operations"')
    if source == "operations" and routes:
        r.problem("routes", 'only with requests = "http"')
    if source == "http" and not parts.http:
        r.problem("requests", '"http" needs parts.http = true (HttpMetricsMiddleware)')
    if source == "operations" and not parts.operations:
        r.problem("requests", '"operations" needs parts.operations = true')
    a = r.section("availability")
    availability = a.get("objective", float, default=0.999, check=_objective)
    a.reject_unknown()
    lat = r.section("latency")
    seconds = lat.get("threshold_seconds", float, check=_positive)
    target = lat.get("target", float, check=_objective)
    if (seconds is None) != (target is None) and lat.present:
        lat.problem(
            "threshold_seconds" if seconds is None else "target",
            "required with the other latency field",
        )
    if seconds is not None and buckets and float(seconds) not in [float(b) for b in buckets]:
        lat.problem(
            "threshold_seconds",
            f"must be one of the histogram's bucket bounds "
            f"(spec.slo.buckets) {sorted(buckets)}, got {seconds}",
        )
    lat.reject_unknown()
    r.reject_unknown()
    return Slo(
        source or "http",
        tuple(routes),
        tuple(operations),
        availability or 0.999,
        seconds,
        target,
        tuple(float(b) for b in buckets or kit_buckets),
    )


def _thresholds(r: Reader) -> Thresholds:
    d = Thresholds()
    memory_mb = r.get("memory_mb", float, check=_positive)
    t = Thresholds(
        error_ratio=r.get("error_ratio", float, default=d.error_ratio, check=_ratio),
        min_requests=r.get("min_requests", int, default=d.min_requests, check=_at_least(1)),
        slow_operation_seconds=r.get(
            "slow_operation_seconds", float, default=d.slow_operation_seconds, check=_positive
        ),
        slow_operations_exclude=tuple(
            r.get("slow_operations_exclude", list, default=[], check=_names)
        ),
        memory_bytes=d.memory_bytes if memory_mb is None else round(memory_mb * MIB),
        route_error_ratio=r.get(
            "route_error_ratio", float, default=d.route_error_ratio, check=_ratio
        ),
        pool_saturation=r.get("pool_saturation", float, default=d.pool_saturation, check=_ratio),
    )
    r.reject_unknown()
    return t


def _paging(r: Reader) -> Paging:
    severities: dict[str, str] = {}
    for severity in SEVERITIES:
        for name in r.get(severity, list, default=[], check=_alert_names):
            if name in severities:
                r.problem(severity, f"{name} is also listed under {severities[name]}")
            severities[name] = severity
    labels = r.get("labels", dict, default={}, check=_labels)
    r.reject_unknown()
    return Paging(severities, dict(labels))


def _alertmanager(r: Reader) -> Alertmanager:
    a = Alertmanager(
        page_receiver=r.get("page_receiver", str, default="pager", check=check_nonempty),
        ticket_receiver=r.get("ticket_receiver", str, default="tickets", check=check_nonempty),
        page_webhook_url=r.get("page_webhook_url", str, check=_url),
        ticket_webhook_url=r.get("ticket_webhook_url", str, check=_url),
    )
    if a.page_receiver == a.ticket_receiver and a.page_webhook_url != a.ticket_webhook_url:
        r.problem("ticket_receiver", "must differ from page_receiver when their URLs differ")
    r.reject_unknown()
    return a


def _kubernetes(r: Reader) -> Kubernetes:
    k = Kubernetes(
        namespace=r.get("namespace", str, check=check_nonempty),
        selector=r.get("selector", dict, default={}, check=_selector),
        port=r.get("port", str, default="http", check=check_nonempty),
        path=r.get("path", str, default="/metrics", check=_path),
        interval=r.get("interval", str, default="15s", check=check_duration),
        pod_labels=dict(r.get("pod_labels", dict, default={}, check=_pod_labels)),
    )
    r.reject_unknown()
    return k


# -- field checks: None if fine, else the message ----------------------------------------------


def _namespace(v: str) -> str | None:
    return (
        None
        if _NAMESPACE.fullmatch(v)
        else f"must be a Prometheus name prefix ([a-zA-Z_][a-zA-Z0-9_]*), got {show(v)}"
    )


def _url(v: str) -> str | None:
    if re.fullmatch(r"https?://[^\s#]+", v):
        return None
    return f"must be an http(s) URL without a #fragment, got {show(v)}"


def _path(v: str) -> str | None:
    return None if v.startswith("/") else f"must start with /, got {show(v)}"


def _positive(v: float) -> str | None:
    return None if 0 < v < math.inf else f"must be > 0, got {v}"


def _ratio(v: float) -> str | None:
    return None if 0 < v < 1 else f"must be between 0 and 1 (exclusive), got {v}"


def _objective(v: float) -> str | None:
    if not 0 < v < 1:
        return f"must be between 0 and 1 (exclusive), got {v}"
    if v < MIN_OBJECTIVE:
        return (
            f"must be at least {MIN_OBJECTIVE}: below it even a total outage cannot "
            f"burn the budget 14.4x (the fastest page could never fire), got {v}"
        )
    return None


def _at_least(low: int) -> Check:
    return lambda v: None if v >= low else f"must be >= {low}, got {v}"


def _names(v: list[Any]) -> str | None:
    for name in v:
        if not isinstance(name, str) or not VALID_NAME.fullmatch(name):
            return f"{show(name)} is not an operation or check name ([a-z][a-z0-9_]*)"
    return "names listed twice" if len(set(v)) != len(v) else None


def _routes(v: list[Any]) -> str | None:
    for route in v:
        if not isinstance(route, str) or not route.startswith("/") or '"' in route:
            return f"{show(route)} is not a route template (like /orders/{{order_id}})"
    return None


def _buckets(v: list[Any]) -> str | None:
    if not v or not all(isinstance(b, int | float) and b > 0 for b in v):
        return "must be a non-empty list of positive numbers"
    return None


def _alert_names(v: list[Any]) -> str | None:
    for name in v:
        if not isinstance(name, str) or not _ALERT_NAME.fullmatch(name):
            return f"{show(name)} is not an alert name (CamelCase)"
    return None


def _labels(v: dict[str, Any]) -> str | None:
    for key, value in v.items():
        if not _LABEL.fullmatch(key) or key in ("severity", "alertname", "job"):
            return f"{show(key)} cannot be an alert label here"
        if not isinstance(value, str) or not value:
            return f"label {key} must be a non-empty string, got {show(value)}"
    return None


def _pod_labels(v: dict[str, Any]) -> str | None:
    for key, value in v.items():
        if not isinstance(value, str) or not _LABEL.fullmatch(value) or value.startswith("__"):
            return f"pod label {key}: the target label must be a label name, got {show(value)}"
        if value in ("job", "instance"):
            return f"pod label {key}: {value} is set by the scrape, choose another target label"
    return None


def generated_names(namespace: str) -> tuple[str, ...]:
    """The names ``generate`` gives its files (``spec.files`` may place each elsewhere)."""
    return (
        "alertmanager/alertmanager.yml",
        f"grafana/{namespace}-overview.json",
        "kubernetes/prometheusrule.yaml",
        "kubernetes/servicemonitor.yaml",
        "prometheus/alerts.rules.yml",
        "prometheus/recording.rules.yml",
        "prometheus/tests/alerts_test.yml",
        "runbooks.md",
    )


def _files(namespace: str) -> Check:
    def check(v: dict[str, Any]) -> str | None:
        known = generated_names(namespace)
        for key, value in v.items():
            if key not in known:
                return f"{show(key)} is not a generated file (one of: {', '.join(known)})"
            parts = Path(value).parts if isinstance(value, str) else ()
            if not parts or Path(value).is_absolute() or ".." in parts:
                return f"{key}: must be a relative path inside the output, got {show(value)}"
        placed = [v.get(name, name) for name in known]
        if len(set(placed)) != len(placed):
            return "two files placed at the same path"
        return None

    return check


def _selector(v: dict[str, Any]) -> str | None:
    for key, value in v.items():
        if not isinstance(value, str) or not value:
            return f"label {key} must be a non-empty string, got {show(value)}"
    return None
