"""Helpers for the expense service tests: a started service on a real database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from aiexpense import ExpenseService
from aiexpense.config import Settings
from aiexpense.domain.operations import Op
from exporter import MetricsCollector


@contextlib.asynccontextmanager
async def open_service(url: str, **settings: Any) -> AsyncIterator[ExpenseService]:
    """An ExpenseService on ``url``, started (migrated), stopped and closed afterwards."""
    pool = AsyncConnectionPool(url, min_size=1, max_size=settings.pop("pool_max", 10), open=False)
    await pool.open(wait=True, timeout=30)
    collector = MetricsCollector(namespace="aiexpense", operations=Op.all(), process_metrics=False)
    service = ExpenseService(pool, collector, Settings(database_url=url, **settings))
    try:
        await service.start()
        yield service
    finally:
        await service.stop()
        await pool.close()


def scalar(url: str, sql: str, params: tuple = ()) -> int:
    """The one value ``sql`` selects, through a connection of its own (not the service's pool)."""
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def select(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows ``sql`` selects, through a connection of its own (not the service's pool)."""
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def op_count(service: ExpenseService, name: str) -> int:
    stats = service.collector.get(name)
    return stats.count if stats else 0


# The admin token the API tests' services are given (Settings(admin_token=ADMIN_TOKEN)).
ADMIN_TOKEN = "test-admin-token-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)


def sign_up(client: httpx.Client, external_id: str, **fields: Any) -> tuple[dict, dict[str, str]]:
    """Sign a person up with the admin token: (their user record, their token's headers)."""
    r = client.post("/api/users", json={"external_id": external_id, **fields}, headers=ADMIN)
    assert r.status_code == 201, r.text
    user = r.json()
    return user, bearer(user["token"])
