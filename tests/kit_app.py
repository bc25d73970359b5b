"""A minimal Starlette app made of the kit alone, the way a user would mount it."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette

from exporter import HealthChecker, MetricsCollector, MonitoringHandler, Thresholds
from exporter.errors import JSON_ERRORS


def kit_app(
    pool=None,
    collector: MetricsCollector | None = None,
    thresholds: Thresholds | None = None,
    admin_token: str | None = None,
) -> Starlette:
    collector = collector or MetricsCollector(namespace="shop")
    health = HealthChecker(pool, collector, thresholds or Thresholds())
    handler = MonitoringHandler(health, collector, admin_token=admin_token or "")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if pool is not None:
            await pool.open(wait=True, timeout=10)
        await health.start()
        yield
        health.begin_shutdown()
        await health.stop()
        if pool is not None:
            await pool.close()

    app = Starlette(routes=handler.routes(), lifespan=lifespan, exception_handlers=JSON_ERRORS)
    app.state.collector, app.state.health = collector, health
    return app
