"""A minimal Starlette app made of the kit alone, the way a user would mount it."""

from __future__ import annotations

import contextlib
import inspect

from starlette.applications import Starlette

from exporter import HealthChecker, MetricsCollector, MonitoringHandler, Thresholds
from exporter.errors import JSON_ERRORS
from tests.support import thresholds as roomy


async def _maybe_await(value) -> None:
    if inspect.isawaitable(value):
        await value


def kit_app(
    pool=None,
    collector: MetricsCollector | None = None,
    thresholds: Thresholds | None = None,
    admin_token: str | None = None,
    *,
    show_details: str = "always",
    database_in_readiness: bool = True,
    wait_first_sample: bool = True,
) -> Starlette:
    """``pool`` may be async or sync (the lifespan opens and closes it either way). Add
    checks through ``app.state.health.add_check`` before serving."""
    collector = collector or MetricsCollector(namespace="shop")
    health = HealthChecker(
        pool, collector, thresholds or roomy(), database_in_readiness=database_in_readiness
    )
    handler = MonitoringHandler(
        health, collector, admin_token=admin_token or "", show_details=show_details
    )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if pool is not None:
            await _maybe_await(pool.open(wait=True, timeout=10))
        await health.start(wait=wait_first_sample)
        yield
        health.begin_shutdown()
        await health.stop()
        if pool is not None:
            await _maybe_await(pool.close())

    app = Starlette(routes=handler.routes(), lifespan=lifespan, exception_handlers=JSON_ERRORS)
    app.state.collector, app.state.health = collector, health
    return app
