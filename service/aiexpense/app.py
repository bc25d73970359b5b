"""create_app(): the expense service and the monitoring kit, wired together.

The only module that knows both: the service gets the collector, the kit gets the pool
and the service's figures for ``/monitoring/system``. Start-up and shutdown order lives
here too (see ``lifespan``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware

from exporter import (
    JSON_ERRORS,
    HealthChecker,
    HttpMetricsMiddleware,
    MetricsCollector,
    MonitoringHandler,
    NullCollector,
)

from . import __version__
from .config import Settings
from .embedded_db import EmbeddedPostgres
from .operations import Op
from .request_id import RequestIdMiddleware
from .service import ExpenseService
from .webhooks import Webhooks

log = logging.getLogger(__name__)
DRAIN_SIGNAL = signal.SIGUSR1  # sent by the supervisor of several workers (aiexpense.workers)


@contextlib.contextmanager
def _drain_on(signum: int, begin: Callable[[], None]) -> Iterator[None]:
    """Begin shutting down on ``signum``: how ``exporter serve --workers`` starts each worker's
    grace period. Only a server's main thread can take signals (not a test's thread)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signum, begin)
    except (NotImplementedError, RuntimeError, ValueError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signum)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    kind = MetricsCollector if settings.instrumentation else NullCollector  # off: records nothing
    collector = kind(namespace=settings.namespace, operations=Op.all(), version=__version__)
    embedded = None
    url = settings.database_url
    if url is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        url = embedded.url
    pool = AsyncConnectionPool(
        url,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        # Fail fast when the database is gone: chat platforms give up after a few seconds.
        timeout=settings.pool_timeout_seconds,
        open=False,
        name="aiexpense",
    )
    service = ExpenseService(pool, collector, settings)
    webhooks = Webhooks(service, settings.webhooks)
    # Webhook operations don't judge health: anyone can post forged requests (401s, counted
    # as errors of that webhook), and that must not take pods out of rotation. A genuine
    # failure inside a webhook still shows, in create_expense and the db_* operations.
    health = HealthChecker(
        pool, collector, settings.thresholds, judged=lambda op: not op.startswith("webhook_")
    )
    handler = MonitoringHandler(
        health,
        collector,
        admin_token=settings.admin_token,
        system_extras=[service.system_extras],
        metrics_cache_seconds=settings.metrics_cache_seconds,
        show_details=settings.health_show_details,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Each part's stop is registered as soon as it has started, so a failed start-up
        # still stops what it started. On exit they run in reverse: readiness fails first
        # (no new traffic while jobs drain and the pool closes; uvicorn has already let
        # in-flight requests finish), then the sampler, the jobs, the reply client, the pool.
        async with contextlib.AsyncExitStack() as stack:
            if embedded is not None:
                stack.callback(embedded.close)
            stack.callback(collector.close)  # a last publish of its figures (several workers)
            await pool.open(wait=True, timeout=30.0)
            stack.push_async_callback(pool.close)
            stack.push_async_callback(webhooks.aclose)  # after the reply jobs drained
            await service.start()
            stack.push_async_callback(service.stop)
            await health.start()
            stack.push_async_callback(health.stop)
            stack.callback(health.begin_shutdown)
            stack.enter_context(_drain_on(DRAIN_SIGNAL, health.begin_shutdown))
            yield

    # Requests by route template and status (/metrics and /monitoring/* are not counted).
    http_metrics = (
        [Middleware(HttpMetricsMiddleware, collector=collector)] if settings.instrumentation else []
    )
    app = Starlette(
        routes=[*service.routes(), *webhooks.routes(), *handler.routes()],
        lifespan=lifespan,
        exception_handlers=JSON_ERRORS,
        # request ids outermost: every log line gets the id, the HTTP metrics included
        middleware=[
            Middleware(RequestIdMiddleware),
            *http_metrics,
        ],
    )
    app.state.settings = settings
    app.state.collector = collector
    app.state.health = health
    app.state.service = service
    app.state.pool = pool
    return app
