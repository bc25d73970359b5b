"""MonitoringHandler: the ``/monitoring/*`` routes and ``/metrics``, for any Starlette app.

    handler = MonitoringHandler(health, collector)
    app = Starlette(routes=[*service_routes, *handler.routes()])

Every endpoint reads in-memory state only: no database I/O on a request.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import _views as views
from ._names import VALID_NAME
from ._reuse import Reused
from .exposition import MetricsEndpoint
from .health import views as health_views
from .health.checker import GroupReport, HealthChecker, HealthReport
from .recorder import MetricsSource
from .stats import OperationStats
from .status.page import RUNBOOK_URL, StatusPage, prefers_html
from .status.snapshot import Snapshot, history_view
from .status.snapshot import take as take_snapshot

HEALTH_JSON = "application/health+json"
SystemExtra = Callable[[], Mapping[str, Any]]


def error(
    status_code: int, message: str, /, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A JSON error body; ``extra`` adds fields (``status="unhealthy"`` among them)."""
    return JSONResponse({"error": message, **extra}, status_code=status_code, headers=headers)


class ShowDetails(StrEnum):
    """Who sees health details (Spring Boot Actuator's ``show-details``)."""

    NEVER = "never"
    WHEN_AUTHORIZED = "when-authorized"  # with ``Authorization: Bearer <admin token>``
    ALWAYS = "always"


class MonitoringHandler:
    """Serves health, probes, operation metrics and the Prometheus exposition."""

    def __init__(
        self,
        health: HealthChecker | None,
        collector: MetricsSource,
        *,
        admin_token: str | None = None,
        runbook_url: str = RUNBOOK_URL,  # the status page's links (StatusPage)
        runbooks: Mapping[str, str] | None = None,  # check name -> anchor in runbook_url
        system_extras: Iterable[SystemExtra] = (),
        prefix: str = "/monitoring",
        service_id: str | None = None,
        metrics_cache_seconds: float = 0.0,
        show_details: ShowDetails | str = ShowDetails.ALWAYS,
    ) -> None:
        """``service_id`` names the service in the IETF health format (default: the
        collector's namespace). ``metrics_cache_seconds`` lets scrapes within that time reuse
        one render of ``/metrics`` (concurrent scrapes always share one).

        ``show_details``: who sees what the health checks found (reasons, pool, memory,
        error text) at ``/monitoring/health``, its groups and the probes' reasons.
        ``never`` or an unauthorized caller under ``when-authorized`` gets the status
        alone (the probes name the failing checks, without their reasons); the status
        code is the same for everyone. The default is ``always``, unlike Actuator's
        ``never``: the spec's ``/monitoring/health`` is an operator's view whose fields
        (``database.open_connections`` ...) existing scripts and dashboards read, so
        hiding them must be a choice. An exposed deployment sets ``when-authorized``."""
        self.health = health
        self.collector = collector
        self._admin_digest = _digest(admin_token) if admin_token else None
        try:
            self._show_details = ShowDetails(show_details)
        except ValueError:
            allowed = ", ".join(d.value for d in ShowDetails)
            raise ValueError(
                f"show_details: must be one of {allowed}, got {show_details!r}"
            ) from None
        self._system_extras = list(system_extras)
        self._prefix = prefix
        self._service_id = service_id or collector.namespace or "service"
        self._summary_cache: tuple[float, dict[str, Any]] = (-1.0, {})
        # the two views of every operation: built off the loop, shared by readers (_reuse)
        self._operations = Reused(lambda: views.operations_view(self.collector))
        self._system = Reused(self.system_summary)
        self._exposition = MetricsEndpoint(
            collector.exposition_registry,
            cache_seconds=metrics_cache_seconds,
            shared_dir=collector.multiprocess_dir,
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
            Route(f"{p}/health/{{group}}", self.health_group, methods=["GET"]),
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
        return Response(await self._operations.body(), media_type=JSONResponse.media_type)

    async def system(self, request: Request) -> Response:
        return Response(await self._system.body(), media_type=JSONResponse.media_type)

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
        return await self._page.serve(request, self._snapshot_for(request))

    async def history(self, request: Request) -> Response:
        points = await anyio.to_thread.run_sync(self.collector.history)  # may read the metrics
        return JSONResponse(history_view(points))

    def snapshot(self, details: bool = True) -> Snapshot:
        """The operations, system and health bodies (and the history) from one read;
        ``details``: the health body as a caller who may see details gets it."""

        def health_of(system: dict[str, Any]) -> dict[str, Any] | None:
            if self.health is None or (report := self.health.report()) is None:
                return None
            return health_views.health_view(report, system, details)

        return take_snapshot(self.collector, self.system_summary, health_of)

    def _snapshot_for(self, request: Request) -> Callable[[], Snapshot]:
        details = self.shows_details(request)  # the page shows what the JSON would
        return lambda: self.snapshot(details)

    # -- health and probes -----------------------------------------------------------------

    async def health_endpoint(self, request: Request) -> Response:
        """The overall status: the spec's JSON, the IETF format or the status page, by
        ``Accept``."""
        if prefers_html(request.headers.get("accept", "")):  # a browser: the status page
            return await self._page.serve(request, self._snapshot_for(request), health_code=True)
        if self.health is None:
            return error(503, "health checking is not configured", headers=self._retry_after())
        report = self.health.report()
        if report is None:
            return self._no_sample()
        details = self.shows_details(request)
        code = health_views.http_status(report.status)
        if HEALTH_JSON in request.headers.get("accept", ""):
            return self._ietf(report.group(None), details, code)
        system = await self._summary_of(report) if details else {}
        body = health_views.health_view(report, system, details)
        return JSONResponse(body, status_code=code, headers=self._retry_after(code))

    async def health_group(self, request: Request) -> Response:
        """One group (``readiness``, ``liveness`` or a custom one); 404 for an unknown."""
        name = request.path_params["group"]
        if self.health is None:
            return error(503, "health checking is not configured", headers=self._retry_after())
        try:
            group = self.health.group(name)
        except KeyError:
            known = sorted(self.health.groups)
            return error(404, f"unknown health group: {name[:80]}", groups=known)
        if group is None:
            return self._no_sample()
        details = self.shows_details(request)
        code = health_views.http_status(group.status)
        if HEALTH_JSON in request.headers.get("accept", ""):
            return self._ietf(group, details, code)
        body = health_views.group_view(group, details)
        return JSONResponse(body, status_code=code, headers=self._retry_after(code))

    def shows_details(self, request: Request) -> bool:
        """Does this caller see health details?"""
        if self._show_details is ShowDetails.WHEN_AUTHORIZED:
            return self._authorized(request)
        return self._show_details is ShowDetails.ALWAYS

    def _ietf(self, group: GroupReport, details: bool, code: int) -> Response:
        body = health_views.ietf_view(group, self._service_id, self.collector.version, details)
        return JSONResponse(
            body, status_code=code, media_type=HEALTH_JSON, headers=self._retry_after(code)
        )

    def _no_sample(self) -> Response:
        return error(503, "no health sample yet", status="unhealthy", headers=self._retry_after())

    def _retry_after(self, code: int = 503) -> dict[str, str] | None:
        """On a 503, when to ask again: the next sampler round."""
        if code != 503:
            return None
        interval = self.health.thresholds.interval_seconds if self.health else 5.0
        return {"Retry-After": str(max(1, math.ceil(interval)))}

    async def _summary_of(self, report: HealthReport) -> dict[str, Any]:
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
        ok, reason = self.health.readiness(detailed=self.shows_details(request))
        if ok:
            return JSONResponse({"status": "ready", "health": reason})
        return JSONResponse(
            {"status": "not_ready", "reason": reason},
            status_code=503,
            headers=self._retry_after(),
        )

    async def live(self, request: Request) -> Response:
        """200 while the process can serve (its event loop beats, its liveness checks pass),
        else 503 saying why. The probe's usual answer is the same bytes each time, made
        once; who may see details is asked only when there is something to hide."""
        if self.health is None:
            return _alive()
        ok, reason = self.health.liveness(detailed=False)
        if not ok and self.shows_details(request):
            ok, reason = self.health.liveness(detailed=True)
        if ok:
            return _alive()
        return JSONResponse({"status": "not_alive", "reason": reason}, status_code=503)

    # -- admin -----------------------------------------------------------------------------

    async def reset(self, request: Request) -> Response:
        if self._admin_digest is None:
            return error(403, "reset is disabled: no admin token is configured")
        if not self._authorized(request):
            return JSONResponse(
                {"error": "missing or wrong admin token (Authorization: Bearer <token>)"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="monitoring"'},
            )
        self.collector.reset()
        self._operations.forget()
        self._system.forget()
        return JSONResponse(
            {
                "status": "reset",
                "note": "the JSON view (counts, min/max, windows) starts a new baseline; Prometheus"
                " counters at /metrics stay monotonic, as rate() requires",
            }
        )

    def _authorized(self, request: Request) -> bool:
        """``Authorization: Bearer <admin token>``, compared in constant time."""
        if self._admin_digest is None:
            return False
        scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            _digest(supplied.strip()), self._admin_digest
        )


_ALIVE = JSONResponse({"status": "alive", "reason": "alive"}).body


def _alive() -> Response:
    """``{"status": "alive", "reason": "alive"}``: its JSON rendered once (a JSONResponse
    renders per answer, the larger part of a probe's cost)."""
    return Response(_ALIVE, media_type=JSONResponse.media_type)


def _digest(token: str) -> bytes:
    """Tokens are compared as digests: equal lengths, so the time tells nothing."""
    return hashlib.sha256(token.encode()).digest()
