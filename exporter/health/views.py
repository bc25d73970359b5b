"""The JSON shapes of the health endpoints: the spec's ``/monitoring/health``, a group's
view, and the IETF health-check draft's ``application/health+json``.

Each takes ``details``: when False (details hidden from this caller) a view is the status
alone, the way Spring Boot Actuator answers with ``show-details=never``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .._formatting import rfc3339
from .checker import GroupReport, HealthReport
from .checks import CheckResult, HealthStatus, Registration

# The spec's view lifts these checks' details to its top-level fields of the same name.
SPEC_FIELDS = ("database", "memory")
NO_DATABASE = {"status": "not_configured", "ping": None}

IETF_STATUS = {
    HealthStatus.HEALTHY: "pass",
    HealthStatus.DEGRADED: "warn",
    HealthStatus.UNHEALTHY: "fail",
}


def http_status(status: HealthStatus) -> int:
    """healthy 200, degraded 200 (still serving), unhealthy 503 (the spec's mapping)."""
    return 503 if status is HealthStatus.UNHEALTHY else 200


def health_view(report: HealthReport, system: Mapping[str, Any], details: bool) -> dict[str, Any]:
    """The spec's ``/monitoring/health`` (``system``: the ``/monitoring/system`` summary)."""
    if not details:
        return {"status": report.status.value}
    database = report.checks.get("database")
    memory = report.checks.get("memory")
    return {
        "status": report.status.value,
        "uptime": system["uptime"],
        "uptime_seconds": system["uptime_seconds"],
        "database": (
            NO_DATABASE
            if database is None
            else {"status": database.status.value, "ping": False, **database.details}
        ),
        "memory": dict(memory.details) if memory else {},
        "operation_metrics": dict(system),
        "checks": checks_view(report.checks, report.registrations, lifted=SPEC_FIELDS),
        "timestamp": rfc3339(report.taken_at),
    }


def group_view(group: GroupReport, details: bool) -> dict[str, Any]:
    """``/monitoring/health/{group}``: the group's status and its checks."""
    if not details:
        return {"status": group.status.value}
    body: dict[str, Any] = {"status": group.status.value, "group": group.name}
    body["checks"] = checks_view(group.checks, group.registrations)
    if group.taken_at is not None:
        body["timestamp"] = rfc3339(group.taken_at)
    return body


def checks_view(
    checks: Mapping[str, CheckResult],
    registrations: Mapping[str, Registration],
    lifted: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Each check's status and reason, whether it is critical, its groups, its details
    (except for the ``lifted`` checks, whose details the caller shows elsewhere)."""
    out = {}
    for name, result in checks.items():
        entry: dict[str, Any] = {"status": result.status.value, "reason": result.reason}
        registration = registrations.get(name)
        if registration is not None:
            entry["critical"] = registration.critical
            entry["groups"] = sorted(registration.groups)
        if result.details and name not in lifted:
            entry["details"] = dict(result.details)
        out[name] = entry
    return out


def ietf_view(group: GroupReport, service_id: str, version: str, details: bool) -> dict[str, Any]:
    """The same facts in the IETF draft's format: ``pass``/``warn``/``fail``, ``checks``
    keyed ``<check>:<measurement>`` (or ``<check>`` alone) from the checks' measurements."""
    if not details:
        return {"status": IETF_STATUS[group.status]}
    at = rfc3339(time.time() if group.taken_at is None else group.taken_at)
    body: dict[str, Any] = {
        "status": IETF_STATUS[group.status],
        "version": version.split(".")[0],
        "releaseId": version,
        "serviceId": service_id,
        "description": f"{service_id} health",
        "checks": {},
    }
    for name, result in group.checks.items():
        registration = group.registrations.get(name)
        component = registration.component_type if registration else "component"
        measurements = result.measurements or (None,)
        for m in measurements:
            item: dict[str, Any] = {
                "componentType": component,
                "observedValue": m.value if m else None,
                "observedUnit": m.unit if m else None,
                "status": IETF_STATUS[result.status],
                "time": at,
            }
            if result.status is not HealthStatus.HEALTHY:
                item["output"] = result.reason
            key = f"{name}:{m.name}" if m and m.name else name
            body["checks"][key] = [item]
    if group.status is not HealthStatus.HEALTHY:
        body["output"] = "; ".join(group.failing())
    return body
