"""A kit-only app for ``uvicorn --workers N --factory tests.kit.mp_app:create_app``.

The kit alone, mounted the way a user would, with one check a test can fail in one worker
(``$KIT_APP_FLAGS/fail_<pid>`` exists) and an ``X-Worker`` header naming the worker that
answered. No supervisor hook: plain uvicorn calls none.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exporter import CheckResult, HealthChecker, MetricsCollector, MonitoringHandler, Thresholds

# Short rounds so a test sees changes quickly; memory limits out of the way.
THRESHOLDS = Thresholds(
    interval_seconds=0.5, memory_degraded_mb=1_000_000.0, memory_unhealthy_mb=2_000_000.0
)


class WorkerHeader:
    """Adds ``X-Worker: <pid>`` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pid = str(os.getpid()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-worker", self.pid)]
            await send(message)

        await self.app(scope, receive, tagged)


def create_app() -> WorkerHeader:
    flags = os.environ["KIT_APP_FLAGS"]
    collector = MetricsCollector(namespace="shop")
    health = HealthChecker(None, collector, THRESHOLDS)

    def flaky() -> CheckResult:
        if os.path.exists(os.path.join(flags, f"fail_{os.getpid()}")):
            return CheckResult.unhealthy("told to fail")
        return CheckResult.healthy()

    health.add_check("flaky", flaky)
    handler = MonitoringHandler(health, collector)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await health.start()
        yield
        await health.stop()
        collector.close()

    return WorkerHeader(Starlette(routes=handler.routes(), lifespan=lifespan))
