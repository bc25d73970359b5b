"""The status page: the monitoring views for people, in a browser.

``GET /monitoring/`` (and ``/monitoring/health`` for a client whose ``Accept`` prefers
``text/html``, as a browser's does) answers one server-rendered HTML page made from one
``snapshot.Snapshot``: every figure equals the JSON endpoints' of that instant. The page needs
no file, CDN or build step, is readable with JavaScript off (sorting is by links,
``?sort=<column>&dir=asc|desc``), and with JavaScript on refreshes itself in place every
``refresh_seconds`` (no ``<meta refresh>``: without JavaScript a reload is the reader's
choice, and a page that reloads itself under a screen reader is worse than a stale one).
It sets a strict Content-Security-Policy (``status_assets``). It never does I/O: the health
figures are the sampler's latest report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ..health.thresholds import Thresholds
from .assets import CONTENT_SECURITY_POLICY
from .render import Links, Sort, render, sort_keys
from .snapshot import Snapshot

# Where a failing check's runbook is: ``<runbook_url>#<anchor>``. Relative by default (the
# docs next to the code); a deployment points it at where its runbooks are published.
RUNBOOK_URL = "docs/runbooks.md"
# The built-in checks' runbook sections, named after the alerts for the same condition.
RUNBOOKS = {
    "database": "databasedown",
    "memory": "highmemory",
    "error_rate": "higherrorrate",
    "sampler": "serviceunhealthy",
}
FALLBACK_RUNBOOK = "serviceunhealthy"  # for any other failing check: the service is unhealthy
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Vary": "Accept",
}


def prefers_html(accept: str) -> bool:
    """Does an ``Accept`` header rank ``text/html`` above JSON? (A browser's
    ``text/html,...,*/*;q=0.8`` does; curl's ``*/*`` and any JSON client's do not.)"""
    html = json = 0.0
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        media = media.strip().lower()
        q = _quality(params)
        if media in ("text/html", "application/xhtml+xml"):
            html = max(html, q)
        elif media in ("application/json", "application/health+json"):
            json = max(json, q)
        elif media in ("*/*", "application/*"):
            json = max(json, q)  # JSON is what a wildcard gets
        elif media == "text/*":
            html = max(html, q)
    return html > json


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def judged_against(thresholds: Thresholds) -> dict[str, str]:
    """What each built-in check compares with, in words, from the thresholds in force."""
    th = thresholds
    return {
        "database": (
            f"down after {th.ping_failures} failed pings in a row (each within"
            f" {th.ping_timeout_seconds:g}s, a connection within {th.checkout_timeout_seconds:g}s);"
            " degraded while requests wait for a pool connection"
        ),
        "memory": (
            f"resident memory: degraded at {th.memory_degraded_mb:g}MB, unhealthy at"
            f" {th.memory_unhealthy_mb:g}MB (or {th.memory_limit_fraction:.0%} of a"
            " container limit)"
        ),
        "error_rate": (
            f"over {th.error_window_seconds / 60:g} min, from {th.error_min_operations}"
            f" operations: degraded at {th.error_degraded_percent:g}%, unhealthy above"
            f" {th.error_unhealthy_percent:g}%"
        ),
        "sampler": (
            f"a sample every {th.interval_seconds:g}s; unhealthy when the latest is older than"
            f" {th.stale_periods * th.interval_seconds:g}s"
        ),
    }


class StatusPage:
    """Renders and serves the page; ``MonitoringHandler`` routes to ``serve``."""

    def __init__(
        self,
        title: str,
        prefix: str = "/monitoring",
        *,
        runbook_url: str = RUNBOOK_URL,
        runbooks: Mapping[str, str] | None = None,
        thresholds: Thresholds | None = None,
        refresh_seconds: float | None = None,
        metrics_path: str = "/metrics",
    ) -> None:
        """``runbooks`` maps check names to anchors in ``runbook_url`` (added to the
        built-ins' ``RUNBOOKS``). ``refresh_seconds``: how often the page refreshes itself
        (0: never); by default as often as the health sampler has news, at most every 2 s."""
        if refresh_seconds is None:
            refresh_seconds = max(2.0, thresholds.interval_seconds) if thresholds else 10.0
        if not 0 <= refresh_seconds < math.inf:
            raise ValueError(f"refresh_seconds: must be >= 0, got {refresh_seconds!r}")
        self.title = title
        self.prefix = prefix
        self.runbook_url = runbook_url
        self.runbooks = {**RUNBOOKS, **(runbooks or {})}
        self.judged = judged_against(thresholds) if thresholds else {}
        self.retry_after = str(math.ceil(thresholds.interval_seconds)) if thresholds else "5"
        self.refresh_seconds = refresh_seconds
        self.metrics_path = metrics_path

    def runbook(self, anchor: str) -> str:
        return f"{self.runbook_url}#{anchor}"

    def render(self, snap: Snapshot, sort: Sort | None = None, root_path: str = "") -> str:
        links = Links(
            base=root_path + self.prefix,
            metrics=root_path + self.metrics_path,
            runbook=self.runbook,
            runbooks=self.runbooks,
            fallback_runbook=FALLBACK_RUNBOOK,
        )
        return render(
            snap,
            title=self.title,
            links=links,
            sort=sort or Sort(),
            judged=self.judged,
            refresh_seconds=self.refresh_seconds,
        )

    async def serve(
        self, request: Request, take: Callable[[], Snapshot], *, health_code: bool = False
    ) -> Response:
        """The page from a fresh snapshot (``take``). ``health_code``: answer with the health
        endpoint's status code (503 when unhealthy or without a sample), as
        ``/monitoring/health`` must whatever the representation; the page itself is 200."""
        params = request.query_params
        try:
            sort = Sort.parse(params.get("sort"), params.get("dir"))
        except ValueError as exc:
            return JSONResponse(
                {"error": str(exc), "sort": sort_keys(), "dir": ["asc", "desc"]}, status_code=400
            )
        root = request.scope.get("root_path", "")

        def build() -> tuple[str, dict[str, Any] | None]:
            snap = take()
            return self.render(snap, sort, root), snap.health

        body, health = await anyio.to_thread.run_sync(build)
        headers = dict(HEADERS)
        code = 200
        if health_code and (health is None or health["status"] == "unhealthy"):
            code = 503
            headers["Retry-After"] = self.retry_after
        return HTMLResponse(body, status_code=code, headers=headers)
