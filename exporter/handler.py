"""MonitoringHandler: the ``/monitoring/*`` routes and ``/metrics``, for any Starlette app.

    handler = MonitoringHandler(health, collector)
    app = Starlette(routes=[*service_routes, *handler.routes()])

Every endpoint reads in-memory state only: no database I/O on a request.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import views
from .collector import MetricsCollector
from .exposition import MetricsEndpoint
from .health import HealthChecker, HealthStatus
from .names import VALID_NAME
from .snapshot import Snapshot, history_view
from .snapshot import take as take_snapshot
from .stats import OperationStats
from .status_page import RUNBOOK_URL, StatusPage, prefers_html

HEALTH_JSON = "application/health+json"
SystemExtra = Callable[[], Mapping[str, Any]]


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class MonitoringHandler:
    """Serves health, probes, operation metrics and the Prometheus exposition."""

    def __init__(
        self,
        health: HealthChecker | None,
        collector: MetricsCollector,
        *,
        admin_token: str | None = None,
        runbook_url: str = RUNBOOK_URL,  # the status page's links (StatusPage)
        runbooks: Mapping[str, str] | None = None,  # check name -> anchor in runbook_url
        system_extras: Iterable[SystemExtra] = (),
        prefix: str = "/monitoring",
        service_id: str | None = None,
        metrics_cache_seconds: float = 0.0,
    ) -> None:
        """``service_id`` names the service in the IETF health format (default: the
        collector's namespace). ``metrics_cache_seconds`` lets scrapes within that time reuse
        one render of ``/metrics`` (concurrent scrapes always share one)."""
        self.health = health
        self.collector = collector
        self._admin_token = admin_token.encode() if admin_token else None
        self._system_extras = list(system_extras)
        self._prefix = prefix
        self._service_id = service_id or collector.namespace or "service"
        self._summary_cache: tuple[float, dict[str, Any]] = (-1.0, {})
        self._exposition = MetricsEndpoint(
            collector.exposition_registry, cache_seconds=metrics_cache_seconds
        )
        self._page = StatusPage(
            self._service_id,
            prefix,
            runbook_url=runbook_url,
            runbooks=runbooks,
            thresholds=health.thresholds if health else None,
        )

    def routes(self) -> list[BaseRoute]:
        p = self._prefix
        return [
            Route(f"{p}/health", self.health_endpoint, methods=["GET"]),
            Route(f"{p}/metrics", self.metrics, methods=["GET"]),
            Route(f"{p}/system", self.system, methods=["GET"]),
            Route(f"{p}/operation", self.operation, methods=["GET"]),
            Route(f"{p}/ready", self.ready, methods=["GET"]),
            Route(f"{p}/live", self.live, methods=["GET"]),
            Route(f"{p}/reset", self.reset, methods=["POST"]),
            Route(f"{p}/", self.status_page, methods=["GET"]),
            Route(p or "/", self.status_page, methods=["GET"]),  # no redirect needed
            Route(f"{p}/history", self.history, methods=["GET"]),
            Route("/metrics", self._exposition, methods=["GET"]),
        ]

    def add_system_extra(self, extra: SystemExtra) -> None:
        """Add fields to ``/monitoring/system`` (the service adds cache and job figures)."""
        self._system_extras.append(extra)

    # -- operation metrics -----------------------------------------------------------------

    async def metrics(self, request: Request) -> Response:
        return JSONResponse(await anyio.to_thread.run_sync(views.operations_view, self.collector))

    async def system(self, request: Request) -> Response:
        return JSONResponse(await anyio.to_thread.run_sync(self.system_summary))

    def system_summary(self, records: Mapping[str, OperationStats] | None = None) -> dict[str, Any]:
        summary = views.system_view(self.collector, records)
        for extra in self._system_extras:
            summary.update(extra())
        return summary

    async def operation(self, request: Request) -> Response:
        name = request.query_params.get("name") or request.query_params.get("operation")
        if not name:
            return error(400, "missing query parameter: name (or operation)")
        if not VALID_NAME.fullmatch(name):
            return error(400, "invalid operation name: expected [a-z][a-z0-9_]*", name=name[:80])
        found = await anyio.to_thread.run_sync(views.operations_view, self.collector, [name])
        if name not in found:
            return error(404, f"unknown operation: {name}", name=name)
        return JSONResponse(found[name])

    # -- the status page -------------------------------------------------------------------

    async def status_page(self, request: Request) -> Response:
        return await self._page.serve(request, self.snapshot)

    async def history(self, request: Request) -> Response:
        points = await anyio.to_thread.run_sync(self.collector.history)  # may read the metrics
        return JSONResponse(history_view(points))

    def snapshot(self) -> Snapshot:
        """The operations, system and health bodies (and the history) from one read."""
        return take_snapshot(self.collector, self.system_summary, self._health_body)

    def _health_body(self, system: dict[str, Any]) -> dict[str, Any] | None:
        if self.health is None or (report := self.health.report()) is None:
            return None
        return views.health_view(self.health, report, system)

    # -- health and probes -----------------------------------------------------------------

    async def health_endpoint(self, request: Request) -> Response:
        """The overall status: the spec's JSON, or the IETF format by ``Accept``."""
        if prefers_html(request.headers.get("accept", "")):  # a browser: the status page
            return await self._page.serve(request, self.snapshot, health_code=True)
        if self.health is None:
            return error(503, "health checking is not configured")
        report = self.health.report()
        if report is None:
            return error(503, "no health sample yet", status="unhealthy")
        code = 503 if report.status is HealthStatus.UNHEALTHY else 200
        if HEALTH_JSON in request.headers.get("accept", ""):
            body = views.health_ietf_view(report, self._service_id, self.collector.version)
            return JSONResponse(body, status_code=code, media_type=HEALTH_JSON)
        body = views.health_view(self.health, report, await self._summary_of(report))
        return JSONResponse(body, status_code=code)

    async def _summary_of(self, report) -> dict[str, Any]:
        """The operation summary as of ``report``'s sample, computed once per sample:
        reading every metric back costs milliseconds, too much for each health request."""
        taken, summary = self._summary_cache
        if taken != report.taken_monotonic:
            summary = await anyio.to_thread.run_sync(self.system_summary)
            self._summary_cache = (report.taken_monotonic, summary)
        return summary

    async def ready(self, request: Request) -> Response:
        if self.health is None:
            return JSONResponse({"status": "ready"})
        ok, reason = self.health.readiness()
        if ok:
            return JSONResponse({"status": "ready", "health": reason})
        return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)

    async def live(self, request: Request) -> Response:
        ok, reason = self.health.liveness() if self.health else (True, "alive")
        return JSONResponse(
            {"status": "alive" if ok else "not_alive", "reason": reason},
            status_code=200 if ok else 503,
        )

    # -- admin -----------------------------------------------------------------------------

    async def reset(self, request: Request) -> Response:
        if self._admin_token is None:
            return error(403, "reset is disabled: no admin token is configured")
        scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            supplied.strip().encode(), self._admin_token
        ):
            return JSONResponse(
                {"error": "missing or wrong admin token (Authorization: Bearer <token>)"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="monitoring"'},
            )
        self.collector.reset()
        return JSONResponse(
            {
                "status": "reset",
                "note": "the JSON view (counts, min/max, windows) starts a new baseline; Prometheus"
                " counters at /metrics stay monotonic, as rate() requires",
            }
        )
