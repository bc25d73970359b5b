"""A FastAPI service watched by the kit alone: operation timing, HTTP metrics, a health
check of its own, probes and ``/metrics``.

    pip install aiexpense-exporter fastapi uvicorn
    uvicorn examples.fastapi_app:app

Then: ``/orders/7``, ``/monitoring/health``, ``/monitoring/ready``, ``/monitoring/metrics``,
``/metrics``. Nothing here is specific to the expense service in this repository.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, HTTPException

from exporter import (
    CheckResult,
    HealthChecker,
    HealthStatus,
    HttpMetricsMiddleware,
    MetricsCollector,
    MonitoringHandler,
)

collector = MetricsCollector(namespace="shop", operations=["load_order", "refresh_prices"])
health = HealthChecker(None, collector)  # no database here: pass a psycopg_pool pool if any
ORDERS = {7: {"id": 7, "item": "tea", "quantity": 2}}
PRICES: dict[str, float] = {}


class Outage:
    """A switch to see the alerts work: while ``on``, every order request answers 503
    (examples/monitoring/ pages on it; tests/kit/assets/test_e2e.py flips it)."""

    on = False


outage = Outage()


async def prices_are_loaded() -> CheckResult:
    """A check of our own: run by the sampler every few seconds, never on a probe's path."""
    if PRICES:
        return CheckResult(HealthStatus.HEALTHY, f"{len(PRICES)} prices loaded")
    return CheckResult(HealthStatus.UNHEALTHY, "price list not loaded yet")


health.add_check("prices", prices_are_loaded, critical=True, groups={"readiness"}, timeout=1.0)

router = APIRouter(prefix="/orders")


@router.get("/{order_id}")
async def get_order(order_id: int) -> dict[str, object]:
    if outage.on:
        raise HTTPException(503, "orders are unavailable (the outage switch is on)")
    with collector.time("load_order", expected=HTTPException):  # a 404 is no failure of ours
        if order_id not in ORDERS:
            raise HTTPException(404, f"no order {order_id}")
        return ORDERS[order_id]


@collector.time("refresh_prices")
async def refresh_prices() -> None:
    PRICES.update({"tea": 3.5, "coffee": 4.0})


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await refresh_prices()
    await health.start()
    yield
    health.begin_shutdown()
    await health.stop()


app = FastAPI(lifespan=lifespan)
app.include_router(router)
app.router.routes.extend(MonitoringHandler(health, collector).routes())
app.add_middleware(HttpMetricsMiddleware, collector=collector)
