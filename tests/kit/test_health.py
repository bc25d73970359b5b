"""HealthChecker and the probes against a real PostgreSQL that the tests stop and start."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import aiohttp
import httpx
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from exporter import HealthChecker, HealthStatus, MetricsCollector
from exporter._liveness import start_token
from tests.kit.app import kit_app
from tests.kit.catalog import Op
from tests.support import async_wait_until, running, thresholds, wait_until

CATALOG = Op.all()  # a real catalog of names to bind up front

FAST = thresholds(interval_seconds=0.3, ping_timeout_seconds=0.5, checkout_timeout_seconds=0.5)


def status_of(client: httpx.Client, path: str) -> int:
    return client.get(path).status_code


def test_database_outage_turns_unhealthy_and_recovers_without_restart(own_postgres):
    pool = AsyncConnectionPool(own_postgres.url, min_size=1, max_size=2, open=False,
                               reconnect_timeout=60)  # fmt: skip
    app = kit_app(pool, thresholds=FAST)
    with running(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        wait_until(lambda: client.get("/monitoring/health").json()["status"] == "healthy")
        health = client.get("/monitoring/health").json()
        assert health["database"]["ping"] is True
        assert client.get("/monitoring/ready").status_code == 200

        own_postgres.stop()
        stopped = time.monotonic()
        wait_until(lambda: status_of(client, "/monitoring/health") == 503, timeout=10)
        # Two failed pings are needed; each sample is at most checkout+ping timeouts long.
        assert time.monotonic() - stopped < 2 * (0.3 + 1.0) + 1.0
        body = client.get("/monitoring/health").json()
        assert body["status"] == "unhealthy"
        assert body["database"]["ping"] is False
        assert body["checks"]["database"]["status"] == "unhealthy"
        assert "ping failed" in body["checks"]["database"]["reason"]
        ready = client.get("/monitoring/ready")
        assert ready.status_code == 503 and "database" in ready.json()["reason"]
        assert client.get("/monitoring/live").status_code == 200
        metrics = client.get("/metrics").text
        assert "shop_db_up 0.0" in metrics
        assert 'shop_health_status{shop_health_status="unhealthy"} 1.0' in metrics

        own_postgres.start()
        wait_until(lambda: status_of(client, "/monitoring/health") == 200, timeout=30)
        assert client.get("/monitoring/ready").status_code == 200
        assert "shop_db_up 1.0" in client.get("/metrics").text


def test_probe_storm_never_reaches_the_database(database):
    pool = AsyncConnectionPool(database.url, min_size=1, max_size=2, open=False)
    slow = thresholds(interval_seconds=60)  # no sampler round during the storm
    app = kit_app(pool, thresholds=slow)

    async def storm(url: str) -> list[int]:
        async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=100)) as s:

            async def get(path: str) -> int:
                async with s.get(path) as r:
                    await r.read()
                    return r.status

            ready = await asyncio.gather(*(get("/monitoring/ready") for _ in range(1000)))
            health = await asyncio.gather(*(get("/monitoring/health") for _ in range(100)))
        return ready + health

    with running(app) as url:
        before = pool.get_stats().get("requests_num", 0)
        codes = asyncio.run(storm(url))
        after = pool.get_stats().get("requests_num", 0)
    assert codes == [200] * 1100
    assert after == before


def test_error_burst_makes_unhealthy_then_ages_out():
    collector = MetricsCollector(namespace="shop", operations=CATALOG, window_resolution=0.25)
    th = thresholds(interval_seconds=0.2, error_window_seconds=2.0, error_min_operations=20)
    app = kit_app(collector=collector, thresholds=th)
    with running(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(19):
            collector.record_operation("create_order", 0.001, error=True)
        time.sleep(0.5)
        body = client.get("/monitoring/health").json()
        assert body["status"] == "healthy", "19 operations are below the minimum volume"
        assert "not judged" in body["checks"]["error_rate"]["reason"]

        for _ in range(80):
            collector.record_operation("create_order", 0.001)
        collector.record_operation("create_order", 0.001, error=True)
        # 20 errors in 100 operations: 20% > 5%
        wait_until(lambda: status_of(client, "/monitoring/health") == 503, timeout=5)
        body = client.get("/monitoring/health").json()
        assert body["checks"]["error_rate"]["status"] == "unhealthy"
        assert "error rate 20% over" in body["checks"]["error_rate"]["reason"]
        assert client.get("/monitoring/ready").status_code == 503

        wait_until(lambda: status_of(client, "/monitoring/health") == 200, timeout=10)
        assert client.get("/monitoring/ready").status_code == 200


def test_degraded_band_of_the_error_rate():
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    for i in range(100):
        collector.record_operation("list_orders", 0.001, error=i < 4)
    checker = HealthChecker(None, collector, thresholds())
    report = asyncio.run(checker.sample())
    assert report.checks["error_rate"].status is HealthStatus.DEGRADED
    assert report.status is HealthStatus.DEGRADED


def test_stalled_sampler_is_unhealthy():
    checker = HealthChecker(
        None,
        MetricsCollector(namespace="shop", operations=CATALOG),
        thresholds(interval_seconds=0.1),
    )
    asyncio.run(checker.sample())
    assert checker.report().status is HealthStatus.HEALTHY
    sampled = time.monotonic()
    # Nothing samples again: the report goes stale after 3 periods plus the longest
    # check timeout (a round may take that long), never before.
    wait_until(lambda: checker.report().status is HealthStatus.UNHEALTHY, timeout=5)
    assert time.monotonic() - sampled >= checker.stale_after_seconds == 0.3 + 1.0
    report = checker.report()
    assert "old" in report.checks["sampler"].reason


def test_sync_pool_is_supported(database):
    pool = ConnectionPool(database.url, min_size=1, max_size=1, open=True)
    try:
        checker = HealthChecker(
            pool, MetricsCollector(namespace="shop", operations=CATALOG), thresholds()
        )
        report = asyncio.run(checker.sample())
        assert report.checks["database"].details["ping"] is True
        assert report.checks["database"].details["max_connections"] == 1
    finally:
        pool.close()


def test_health_json_field_by_field(database):
    pool = AsyncConnectionPool(database.url, min_size=2, max_size=4, open=False)
    app = kit_app(pool)
    app.state.collector.record_operation("create_order", 0.01)
    with running(app) as url, httpx.Client(base_url=url) as client:
        body = client.get("/monitoring/health").json()
        assert set(body) >= {"status", "uptime", "database", "memory", "operation_metrics",
                             "timestamp", "checks", "uptime_seconds"}  # fmt: skip
        db = body["database"]
        assert db["status"] == "healthy" and db["ping"] is True
        assert db["open_connections"] == 2
        assert db["in_use_connections"] + db["idle_connections"] == db["open_connections"]
        assert isinstance(db["wait_count"], int)
        assert db["wait_duration"].endswith("s")
        assert db["max_idle_closed"] is None and db["max_lifetime_closed"] is None
        mem = body["memory"]
        assert mem["alloc"].endswith("MB") and mem["alloc_bytes"] > 10_000_000
        assert mem["total_alloc"] is None
        assert mem["sys_bytes"] >= mem["alloc_bytes"]
        assert mem["goroutines"] == mem["threads"] + mem["asyncio_tasks"] >= 2
        assert isinstance(mem["num_gc"], int)
        assert body["operation_metrics"]["total_operations"] == 1

        r = client.get("/monitoring/health", headers={"Accept": "application/health+json"})
        assert r.headers["content-type"].startswith("application/health+json")
        ietf = r.json()
        assert ietf["status"] == "pass"
        # keyed <check>:<measurement> by the checks themselves
        assert set(ietf["checks"]) == {"database:responseTime", "database:connections",
                                       "memory:utilization", "error_rate", "sampler"}  # fmt: skip
        for key, entries in ietf["checks"].items():
            assert isinstance(entries, list) and entries, key
            for entry in entries:
                assert entry["status"] in ("pass", "warn", "fail")
                assert set(entry) >= {"observedValue", "observedUnit", "status",
                                      "componentType", "time"}, key  # fmt: skip
        response_time = ietf["checks"]["database:responseTime"][0]
        assert response_time["observedUnit"] == "ms" and response_time["observedValue"] > 0
        assert response_time["componentType"] == "datastore"
        memory = ietf["checks"]["memory:utilization"][0]
        assert memory["observedValue"] == pytest.approx(mem["alloc_bytes"], rel=0.5)


@pytest.mark.parametrize(
    ("token", "header", "method", "code"),
    [
        ("", None, "POST", 403),
        ("s3cret", None, "POST", 401),
        ("s3cret", "Bearer wrong", "POST", 401),
        ("s3cret", "Basic s3cret", "POST", 401),
        ("s3cret", "Bearer s3cret", "GET", 405),
        ("s3cret", "Bearer s3cret", "POST", 200),
    ],
)
def test_reset_is_admin_only(token, header, method, code):
    collector = MetricsCollector(namespace="shop", operations=CATALOG)
    collector.record_operation("create_order", 0.01)
    app = kit_app(collector=collector, admin_token=token)
    headers = {"Authorization": header} if header else {}
    with running(app) as url, httpx.Client(base_url=url) as client:
        r = client.request(method, "/monitoring/reset", headers=headers)
        assert r.status_code == code
        assert r.json()["error" if code != 200 else "status"]
        count = client.get("/monitoring/operation?name=create_order").json()["count"]
        assert count == (0 if code == 200 else 1)
        if code == 403:
            assert "no admin token" in r.json()["error"]
        if code == 200:
            assert "monotonic" in r.json()["note"]
            assert (
                'shop_operations_total{operation="create_order"} 1.0' in client.get("/metrics").text
            )


async def test_shutdown_flips_ready_before_the_pool_closes(database):
    pool = AsyncConnectionPool(database.url, min_size=1, max_size=2, open=False)
    await pool.open(wait=True)
    checker = HealthChecker(
        pool, MetricsCollector(namespace="shop", operations=CATALOG), thresholds()
    )
    await checker.start()
    assert checker.readiness()[0] is True
    checker.begin_shutdown()
    assert checker.readiness() == (False, "shutting down")
    assert not pool.closed  # still open: in-flight work can finish
    await checker.stop()
    await pool.close()
    assert checker.readiness() == (False, "shutting down")


def test_liveness_goes_stale_when_the_heartbeat_stops():
    checker = HealthChecker(
        None,
        MetricsCollector(namespace="shop", operations=CATALOG),
        thresholds(liveness_stale_seconds=2),  # the least allowed: twice the 1 s heartbeat
    )

    async def scenario():
        await checker.start()
        ok_before = checker.liveness()[0]
        for task in checker._tasks:
            task.cancel()
        await async_wait_until(lambda: not checker.liveness()[0], timeout=5)
        return ok_before, checker.liveness()

    ok_before, (ok_after, reason) = asyncio.run(scenario())
    assert ok_before is True
    assert ok_after is False and "heartbeat" in reason


def test_liveness_fails_when_another_workers_event_loop_stops_beating(tmp_path):
    """Several workers: one stuck event loop is the server's fault, whichever worker the
    probe reaches. The other worker is a real process (``sleep``) with a report of its own."""
    other = subprocess.Popen(["sleep", "60"])
    collector = MetricsCollector(
        namespace="shop", operations=CATALOG, multiprocess_dir=str(tmp_path)
    )
    checker = HealthChecker(None, collector, thresholds(liveness_stale_seconds=2))

    def other_beat(at: float) -> None:
        report = {"pid": other.pid, "token": start_token(other.pid), "beat": at, "taken": None,
                  "draining": False, "checks": {}}  # fmt: skip
        (tmp_path / f"health_{other.pid}.json").write_text(json.dumps(report))

    async def scenario():
        other_beat(time.monotonic())
        await checker.start()
        before = checker.liveness()
        other_beat(time.monotonic() - 30)  # its loop stopped half a minute ago
        await async_wait_until(lambda: not checker.liveness()[0], timeout=5)
        after = checker.liveness(), checker.group("liveness")
        await checker.stop()
        return before, after

    try:
        before, ((ok, reason), group) = asyncio.run(scenario())
    finally:
        other.kill()
        other.wait()
        collector.close()
    assert before == (True, "alive")
    assert ok is False and reason.startswith(f"worker {other.pid}: event loop heartbeat is 3")
    assert group is not None and group.status is HealthStatus.UNHEALTHY
    assert group.checks["event_loop"].reason == reason


def test_ready_is_503_before_the_first_sample():
    checker = HealthChecker(
        None, MetricsCollector(namespace="shop", operations=CATALOG), thresholds()
    )
    assert checker.readiness() == (False, "no health sample yet")
