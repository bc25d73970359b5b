"""The instrumentation switch: NullCollector keeps MetricsCollector's API and records nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from aiexpense.app import create_app
from aiexpense.config import Settings
from aiexpense.domain.operations import Op
from exporter import MetricsCollector, NullCollector
from tests.service.helpers import ADMIN, ADMIN_TOKEN
from tests.support import running


def public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_null_collector_has_every_public_name_of_metrics_collector() -> None:
    instance_only = {
        "registry",
        "namespace",
        "version",
        "buckets",
        "max_operations",
        "started_at",
        "multiprocess_dir",
        "exposition_registry",
    }
    null = NullCollector()
    missing = (public(MetricsCollector) | instance_only) - public(NullCollector) - set(vars(null))
    assert not missing


def test_null_collector_records_nothing() -> None:
    null = NullCollector()
    null.record_operation(Op.CREATE_EXPENSE, 0.002)
    timer = null.timer(Op.CREATE_EXPENSE)
    assert timer.end(ValueError()) == 0.0 and timer.end_ok() == 0.0
    with null.time(Op.DB_QUERY):
        pass
    assert null.snapshot() == {} and null.operations() == [] and null.get("x") is None
    assert null.window_total(300).count == 0 and null.windows(60) == {}


def test_null_timing_decorates_sync_and_async_functions_transparently() -> None:
    null = NullCollector()

    @null.time(Op.PARSE_CONVERSATION)
    def double(x: int) -> int:
        return 2 * x

    @null.time(Op.GET_EXPENSES)
    async def fail() -> None:
        raise KeyError("boom")

    assert double(21) == 42
    with pytest.raises(KeyError):
        asyncio.run(fail())
    with pytest.raises(ZeroDivisionError), null.time(Op.DB_QUERY):
        1 / 0  # noqa: B018


@pytest.mark.parametrize(
    ("raw", "expected"), [("off", False), ("0", False), ("on", True), ("", True), ("TRUE", True)]
)
def test_settings_read_the_switch(raw: str, expected: bool) -> None:
    assert Settings.from_env({"EXPORTER_INSTRUMENTATION": raw}).instrumentation is expected


def test_settings_refuse_a_switch_that_is_neither_on_nor_off() -> None:
    with pytest.raises(ValueError, match="EXPORTER_INSTRUMENTATION"):
        Settings.from_env({"EXPORTER_INSTRUMENTATION": "maybe"})


def test_the_service_runs_with_instrumentation_off(database) -> None:
    settings = Settings(database_url=database.url, instrumentation=False, admin_token=ADMIN_TOKEN)
    app = create_app(settings)
    assert isinstance(app.state.collector, NullCollector)
    with running(app) as base, httpx.Client(base_url=base, timeout=10, headers=ADMIN) as client:
        user = client.post("/api/users", json={"external_id": "off-1", "currency": "USD"})
        assert user.status_code == 201
        expense = {"user_id": user.json()["id"], "amount": "3.50", "category": "food"}
        assert client.post("/api/expenses", json=expense).status_code == 201
        assert client.get(f"/api/expenses?user_id={user.json()['id']}").json()["count"] == 1
        system = client.get("/monitoring/system").json()
        assert system["total_operations"] == 0 and system["monitored_operations"] == 0
        assert client.get("/monitoring/health").status_code == 200
        assert client.get("/monitoring/ready").status_code == 200
        metrics = client.get("/metrics").text
        assert "aiexpense_cache_requests_total" in metrics
        assert 'aiexpense_operations_total{operation="create_expense"}' not in metrics
