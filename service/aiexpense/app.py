"""create_app(): the expense service and the monitoring kit, wired together.

The only module that knows both: the service gets the collector, the kit gets the pool
and the service's figures for ``/monitoring/system``. Start-up and shutdown order lives
here too (see ``lifespan``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterator

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware

from exporter import (
    JSON_ERRORS,
    CheckResult,
    HealthChecker,
    HttpMetricsMiddleware,
    MetricsCollector,
    MonitoringHandler,
    NullCollector,
)

from . import __version__, openapi
from .config import Settings
from .domain.operations import Op
from .http.api import ExpenseApi
from .http.faults import FAULT_HANDLERS
from .http.limits import BodyReadTimeout
from .http.request_id import RequestIdMiddleware
from .http.routing import PrefixRouter
from .service import ExpenseService
from .store.embedded import EmbeddedPostgres
from .store.startup import DatabaseStartup, pool_conninfo
from .webhooks import Webhooks

log = logging.getLogger(__name__)
# Seconds the lifespan gives the first attempt to reach and migrate the database before
# serving anyway: a present database is ready from the first request, an absent one
# (refused, no such role) costs nothing, a black-holed one at most this.
STARTUP_HEAD_START = 3.0
# How long the pool retries one lost connection (backoff 1 s, 2 s, 4 s...) before giving up
# on it; the next request that needs one starts afresh at once. psycopg's default, 300 s,
# lets the backoff grow to a minute or more: the pool would stay empty that long after the
# database is back.
RECONNECT_SECONDS = 5.0
DRAIN_SIGNAL = signal.SIGUSR1  # sent by the supervisor of several workers (aiexpense.workers)


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
        pool_conninfo(url, settings.statement_timeout_seconds),
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        # Fail fast when the database is gone: chat platforms give up after a few seconds.
        timeout=settings.pool_timeout_seconds,
        reconnect_timeout=RECONNECT_SECONDS,
        open=False,
        name="aiexpense",
    )
    service = ExpenseService(pool, collector, settings)
    webhooks = Webhooks(service, settings.webhooks)

    async def prepare(conn: AsyncConnection) -> None:
        await pool.open(wait=False)  # a no-op on later attempts
        await service.prepare(conn)

    # Migrations run without the pool's statement timeout (a migration may take its time).
    startup = DatabaseStartup(url, prepare, connect_timeout=settings.statement_timeout_seconds)
    # Webhook operations don't judge health: anyone can post forged requests (401s, counted
    # as errors of that webhook), and that must not take pods out of rotation. A genuine
    # failure inside a webhook still shows, in create_expense and the db_* operations.
    health = HealthChecker(
        pool, collector, settings.thresholds, judged=lambda op: not op.startswith("webhook_")
    )

    def migrated() -> CheckResult:  # not ready until the schema is (liveness is untouched)
        if service.migrated:
            return CheckResult.healthy("schema migrated")
        return CheckResult.unhealthy(f"database not ready: {startup.cause}")

    health.add_check("migrations", migrated)
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
        # Nothing here waits for the database: the server listens at once, live and not
        # ready, and a background task migrates when the database first answers (see
        # db_startup). Each part's stop is registered as soon as it has started, so a failed
        # start-up still stops what it started. On exit they run in reverse: readiness fails
        # first (no new traffic while jobs drain and the pool closes; uvicorn has already let
        # in-flight requests finish), then the sampler, the start-up task, the jobs, the
        # reply client, the pool.
        async with contextlib.AsyncExitStack() as stack:
            if embedded is not None:
                stack.callback(embedded.close)
            stack.callback(collector.close)  # a last publish of its figures (several workers)
            stack.push_async_callback(pool.close)  # opened by the start-up task
            stack.push_async_callback(webhooks.aclose)  # after the reply jobs drained
            await service.start(migrate=False)  # the start-up task migrates
            stack.push_async_callback(service.stop)
            waiting = await startup.start(head_start=STARTUP_HEAD_START)
            stack.push_async_callback(_cancel, waiting)
            await health.start()  # after the head start: the first sample sees an open pool
            stack.push_async_callback(health.stop)
            stack.callback(health.begin_shutdown)
            stack.enter_context(_drain_on(DRAIN_SIGNAL, health.begin_shutdown))
            # What start-up made lives as long as the process: out of the collector's sight,
            # a full collection no longer walks it (~60,000 objects, tens of ms on the loop
            # each time; a p99 stall). Not collected first: that would cost start-up as much.
            gc.freeze()
            yield

    document = openapi.build([(h.platform, h.handshake) for h in webhooks.hooks])
    described = [
        *ExpenseApi(service).routes(),
        *webhooks.routes(),
        openapi.route(document),
    ]
    # Requests by route template and status (/metrics and /monitoring/* are not counted).
    http_metrics = (
        [Middleware(HttpMetricsMiddleware, collector=collector)] if settings.instrumentation else []
    )
    app = Starlette(
        routes=[*described, *handler.routes()],
        lifespan=lifespan,
        exception_handlers={**JSON_ERRORS, **FAULT_HANDLERS},
        # request ids outermost: every log line gets the id, the HTTP metrics included
        middleware=[
            Middleware(RequestIdMiddleware),
            *http_metrics,
            Middleware(BodyReadTimeout, seconds=settings.body_timeout_seconds),
        ],
    )
    # No redirect to the path with(out) a trailing slash: Starlette builds its Location from
    # the Host header (an open redirect). A JSON 404 names the path instead. The router
    # tries only the routes of the path's first segment (a probe skipped ~25 regexes).
    app.router = PrefixRouter(app.routes, lifespan=lifespan, redirect_slashes=False)
    app.state.settings = settings
    app.state.collector = collector
    app.state.health = health
    app.state.service = service
    app.state.pool = pool
    app.state.startup = startup
    app.state.openapi = document
    return app


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


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
