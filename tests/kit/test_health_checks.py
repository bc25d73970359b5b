"""HealthChecker.add_check: sync and async checks, timeouts, criticality, groups, the IETF
keys, details visibility, and the answer before the first sample, over real uvicorn."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from exporter import (
    CheckResult,
    HealthChecker,
    HealthStatus,
    Measurement,
    MetricsCollector,
    MonitoringHandler,
)
from tests.kit.app import kit_app
from tests.support import running, thresholds, wait_until

FAST = thresholds(interval_seconds=0.2)


def checker(**kwargs) -> HealthChecker:
    return HealthChecker(None, MetricsCollector(namespace="shop"), FAST, **kwargs)


def sample(health: HealthChecker):
    return asyncio.run(health.sample())


# -- what a check may return, and how it fails -------------------------------------------------


async def async_cache_ok() -> CheckResult:
    await asyncio.sleep(0)
    return CheckResult.healthy("3 keys", details={"keys": 3})


def sync_raises() -> bool:
    raise ConnectionRefusedError("queue at 127.0.0.1:5672 refused")


async def async_raises() -> None:
    raise RuntimeError("downstream said 502\nwith a second line")


class CallableCheck:
    component_type = "datastore"

    async def __call__(self) -> CheckResult:
        return CheckResult.degraded("replica lag 4s", measurements=(Measurement("lag", 4, "s"),))


@pytest.mark.parametrize(
    ("check", "status", "reason"),
    [
        (lambda: True, "healthy", "ok"),
        (lambda: None, "healthy", "ok"),
        (lambda: False, "unhealthy", "check returned False"),
        (lambda: CheckResult.degraded("slow"), "degraded", "slow"),
        (lambda: 42, "unhealthy", "check returned int: expected CheckResult, bool or None"),
        (async_cache_ok, "healthy", "3 keys"),
        (sync_raises, "unhealthy", "ConnectionRefusedError: queue at 127.0.0.1:5672 refused"),
        (async_raises, "unhealthy", "RuntimeError: downstream said 502"),
        (CallableCheck(), "degraded", "replica lag 4s"),
    ],
)
def test_what_a_check_returns_becomes_its_result(check, status, reason):
    health = checker()
    health.add_check("custom", check)
    result = sample(health).checks["custom"]
    assert (result.status.value, result.reason) == (status, reason)


def test_sync_checks_run_in_a_worker_thread_and_never_stall_the_loop():
    seen = {}

    def slow_sync_check() -> bool:
        seen["thread"] = threading.get_ident()
        time.sleep(0.3)  # blocking work: the loop must keep running meanwhile
        return True

    health = checker()
    health.add_check("slow", slow_sync_check, timeout=2)

    async def scenario() -> int:
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await health.sample()
        task.cancel()
        seen["loop"] = threading.get_ident()
        return ticks

    ticks = asyncio.run(scenario())
    assert seen["thread"] != seen["loop"]
    assert ticks >= 10  # 0.3 s of blocking, the loop ticked on (0 ticks if it ran inline)


@pytest.mark.parametrize("kind", ["sync", "async", "async-ignoring-cancel"])
def test_a_hanging_check_fails_at_its_timeout(kind):
    release = threading.Event()

    def sync_hang() -> bool:
        release.wait(10)
        return True

    async def async_hang() -> bool:
        await asyncio.sleep(10)
        return True

    async def stubborn() -> bool:  # swallows its first cancellation
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(1)
        return True

    check = {"sync": sync_hang, "async": async_hang, "async-ignoring-cancel": stubborn}[kind]
    health = checker()
    health.add_check("hang", check, timeout=0.2)

    async def scenario():
        started = time.monotonic()
        report = await health.sample()
        took = time.monotonic() - started
        await health.stop()
        return report, took

    try:
        report, took = asyncio.run(scenario())
    finally:
        release.set()
    assert report.checks["hang"] == CheckResult.unhealthy("timed out after 0.2s")
    assert report.status is HealthStatus.UNHEALTHY
    assert took < 0.2 + 0.5  # the round is bounded by the timeout, not by the check


def test_a_hung_sync_check_holds_one_thread_and_recovers_when_it_returns():
    release = threading.Event()
    calls = []

    def hangs_once() -> bool:
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)
        return True

    health = checker()
    health.add_check("hang", hangs_once, timeout=0.1)

    async def scenario():
        first = await health.sample()
        second = await health.sample()
        third = await health.sample()
        release.set()
        await asyncio.sleep(0)
        while len(calls) < 2:  # the held call ends, then the next round calls again
            await asyncio.sleep(0.02)
            fourth = await health.sample()
        return first, second, third, fourth

    try:
        first, second, third, fourth = asyncio.run(scenario())
    finally:
        release.set()
    assert first.checks["hang"].reason == "timed out after 0.1s"
    for later in (second, third):
        assert "still running" in later.checks["hang"].reason
    assert len(calls) == 2  # rounds 2 and 3 started no second thread
    assert fourth.checks["hang"].status is HealthStatus.HEALTHY


def test_overlapping_rounds_share_one_call_within_its_timeout():
    calls = []

    async def slowish() -> CheckResult:
        calls.append(1)
        await asyncio.sleep(0.2)
        return CheckResult.healthy("done")

    health = checker()
    health.add_check("slowish", slowish, timeout=2)

    async def scenario():
        return await asyncio.gather(health.sample(), health.sample())

    first, second = asyncio.run(scenario())
    assert first.checks["slowish"].reason == second.checks["slowish"].reason == "done"
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "memory"}, "already registered"),
        ({"name": "Bad Name"}, "invalid check name"),
        ({"groups": "readiness"}, "groups: expected a collection"),
        ({"groups": ["no/slash"]}, "invalid group name"),
        ({"timeout": 0}, "timeout: must be a finite number > 0"),
        ({"timeout": float("nan")}, "timeout: must be a finite number > 0"),
        ({"timeout": "1"}, "timeout: must be a finite number > 0, got '1'"),
        ({"timeout": True}, "timeout: must be a finite number > 0, got True"),
    ],
)
def test_add_check_refuses_bad_arguments(kwargs, message):
    health = checker()
    arguments = {"name": "custom", "check": lambda: True} | kwargs
    name = arguments.pop("name")
    with pytest.raises(ValueError, match=message):
        health.add_check(name, **arguments)


def test_no_database_check_without_a_pool():
    report = sample(checker())
    assert set(report.checks) == {"memory", "error_rate", "sampler"}
    assert report.status is HealthStatus.HEALTHY


# -- criticality and groups over HTTP ---------------------------------------------------------


def test_a_failing_non_critical_check_degrades_and_a_critical_one_fails():
    app = kit_app(thresholds=FAST)
    switch = {"cache": True, "payments": True}
    health = app.state.health
    health.add_check("cache", lambda: switch["cache"], critical=False)
    health.add_check("payments", lambda: switch["payments"])
    with running(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/monitoring/health").json()["status"] == "healthy"

        switch["cache"] = False
        wait_until(lambda: client.get("/monitoring/health").json()["status"] == "degraded")
        r = client.get("/monitoring/health")
        assert r.status_code == 200
        cache = r.json()["checks"]["cache"]
        assert cache == {"status": "unhealthy", "reason": "check returned False",
                         "critical": False, "groups": ["readiness"]}  # fmt: skip
        ready = client.get("/monitoring/ready")
        assert ready.status_code == 200 and ready.json()["health"] == "degraded"
        assert 'shop_health_check_up{check="cache"} 0.0' in client.get("/metrics").text

        switch["payments"] = False
        wait_until(lambda: client.get("/monitoring/health").status_code == 503)
        assert client.get("/monitoring/health").headers["retry-after"] == "1"
        ready = client.get("/monitoring/ready")
        assert ready.status_code == 503
        # The reason names the checks that made it so (not the non-critical cache).
        assert ready.json()["reason"] == "unhealthy: payments: check returned False"
        assert client.get("/monitoring/live").status_code == 200  # not in liveness


def test_groups_are_served_and_judged_worst_first():
    app = kit_app(thresholds=FAST)
    health = app.state.health
    state = {"search": CheckResult.healthy("p99 12ms")}
    health.add_check("search", lambda: state["search"], groups=["external"])
    health.add_check("mail", lambda: CheckResult.degraded("queue 900"), groups=["external"])
    health.add_check("deadlock", lambda: True, groups=["liveness"])
    with running(app) as url, httpx.Client(base_url=url) as client:
        r = client.get("/monitoring/health/external")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded" and body["group"] == "external"
        assert set(body["checks"]) == {"search", "mail"}
        assert body["checks"]["mail"]["reason"] == "queue 900"

        state["search"] = CheckResult.unhealthy("connection refused")
        wait_until(lambda: client.get("/monitoring/health/external").status_code == 503)
        assert client.get("/monitoring/health/external").json()["status"] == "unhealthy"
        # Not in readiness: the pod stays ready, the overall status tells the truth.
        assert client.get("/monitoring/ready").status_code == 200
        assert client.get("/monitoring/health").json()["status"] == "unhealthy"

        readiness = client.get("/monitoring/health/readiness").json()
        assert set(readiness["checks"]) == {"memory", "error_rate", "sampler"}
        liveness = client.get("/monitoring/health/liveness").json()
        assert set(liveness["checks"]) == {"event_loop", "deadlock"}
        assert liveness["status"] == "healthy"

        missing = client.get("/monitoring/health/nope")
        assert missing.status_code == 404
        assert missing.json() == {"error": "unknown health group: nope",
                                  "groups": ["external", "liveness", "readiness"]}  # fmt: skip


def test_a_liveness_check_fails_live_and_never_ready_alone():
    app = kit_app(thresholds=FAST)
    alive = {"ok": True}
    app.state.health.add_check("worker_pool", lambda: alive["ok"], groups=["liveness"])
    with running(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/monitoring/live").status_code == 200
        alive["ok"] = False
        wait_until(lambda: client.get("/monitoring/live").status_code == 503)
        assert client.get("/monitoring/live").json() == {
            "status": "not_alive", "reason": "unhealthy: worker_pool: check returned False"
        }  # fmt: skip
        assert client.get("/monitoring/ready").status_code == 200


def test_ietf_keys_come_from_the_checks():
    app = kit_app(thresholds=FAST)
    app.state.health.add_check("replica", CallableCheck(), critical=False)
    app.state.health.add_check("cache", async_cache_ok)
    with running(app) as url, httpx.Client(base_url=url) as client:
        r = client.get("/monitoring/health", headers={"Accept": "application/health+json"})
        body = r.json()
        assert body["status"] == "warn"
        assert set(body["checks"]) == {"memory:utilization", "error_rate", "sampler",
                                       "replica:lag", "cache"}  # fmt: skip
        (lag,) = body["checks"]["replica:lag"]
        assert lag["componentType"] == "datastore"
        assert (lag["observedValue"], lag["observedUnit"], lag["status"]) == (4, "s", "warn")
        assert lag["output"] == "replica lag 4s"
        (cache,) = body["checks"]["cache"]
        assert cache["componentType"] == "component" and "output" not in cache
        assert body["serviceId"] == "shop"  # the collector's namespace, no product name
        group = client.get("/monitoring/health/readiness",
                           headers={"Accept": "application/health+json"})  # fmt: skip
        assert group.headers["content-type"].startswith("application/health+json")
        assert "replica:lag" in group.json()["checks"]


# -- details visibility -----------------------------------------------------------------------

SECRET_REASON = "login failed for user app at 10.0.0.7"


@pytest.mark.parametrize(
    ("mode", "token", "header", "shown"),
    [
        ("always", "", None, True),
        ("always", "s3cret", "Bearer wrong", True),
        ("never", "s3cret", None, False),
        ("never", "s3cret", "Bearer s3cret", False),
        ("when-authorized", "s3cret", None, False),
        ("when-authorized", "s3cret", "Bearer wrong", False),
        ("when-authorized", "s3cret", "Basic s3cret", False),
        ("when-authorized", "s3cret", "Bearer s3cret", True),
        ("when-authorized", "", "Bearer anything", False),  # no token configured: nobody
    ],
)
def test_details_visibility(mode, token, header, shown):
    app = kit_app(thresholds=FAST, admin_token=token, show_details=mode)
    app.state.health.add_check("ledger", lambda: CheckResult.unhealthy(SECRET_REASON))
    headers = {"Authorization": header} if header else {}
    ietf = {"Accept": "application/health+json", **headers}
    with running(app) as url, httpx.Client(base_url=url, headers=headers) as client:
        health = client.get("/monitoring/health")
        group = client.get("/monitoring/health/readiness")
        ietf_body = client.get("/monitoring/health", headers=ietf).json()
        ready = client.get("/monitoring/ready")
        # The status and its code are the same for everyone.
        assert health.status_code == group.status_code == ready.status_code == 503
        assert health.json()["status"] == group.json()["status"] == "unhealthy"
        assert ietf_body["status"] == "fail"
        for text in (health.text, group.text, ready.text, str(ietf_body)):
            assert (SECRET_REASON in text) is shown
        if shown:
            assert health.json()["memory"]["alloc_bytes"] > 0
            assert ready.json()["reason"] == f"unhealthy: ledger: {SECRET_REASON}"
        else:
            assert health.json() == {"status": "unhealthy"}
            assert group.json() == {"status": "unhealthy"}
            assert ietf_body == {"status": "fail"}
            assert ready.json()["reason"] == "unhealthy: ledger"  # names, never reasons


@pytest.mark.parametrize(
    ("mode", "header", "shown"),
    [
        ("always", None, True),
        ("never", "Bearer s3cret", False),
        ("when-authorized", None, False),
        ("when-authorized", "Bearer wrong", False),
        ("when-authorized", "Bearer s3cret", True),
    ],
)
def test_live_fails_says_why_as_details_allow_and_recovers(mode, header, shown):
    app = kit_app(thresholds=FAST, admin_token="s3cret", show_details=mode)
    alive = {"ok": True}

    def worker_pool() -> CheckResult:
        return CheckResult.healthy() if alive["ok"] else CheckResult.unhealthy(SECRET_REASON)

    app.state.health.add_check("worker_pool", worker_pool, groups=["liveness"])
    headers = {"Authorization": header} if header else {}
    alive_answer = (200, "application/json", b'{"status":"alive","reason":"alive"}')
    with running(app) as url, httpx.Client(base_url=url, headers=headers) as client:

        def answer() -> tuple[int, str, bytes]:
            r = client.get("/monitoring/live")
            return r.status_code, r.headers["content-type"], r.content

        assert answer() == alive_answer
        alive["ok"] = False
        wait_until(lambda: answer()[0] == 503)
        reason = f"unhealthy: worker_pool: {SECRET_REASON}" if shown else "unhealthy: worker_pool"
        assert client.get("/monitoring/live").json() == {"status": "not_alive", "reason": reason}
        alive["ok"] = True  # the next report's liveness checks, not the failing one's
        wait_until(lambda: answer()[0] == 200)
        assert answer() == alive_answer


def test_show_details_is_validated():
    with pytest.raises(ValueError, match="show_details: must be one of never, when-authorized"):
        MonitoringHandler(None, MetricsCollector(namespace="shop"), show_details="sometimes")


# -- before the first sample ------------------------------------------------------------------


def test_requests_before_the_first_sample_get_503_with_json():
    release = threading.Event()
    app = kit_app(thresholds=FAST, wait_first_sample=False)
    app.state.health.add_check("warmup", lambda: release.wait(10), timeout=10)
    try:
        with running(app) as url, httpx.Client(base_url=url) as client:
            r = client.get("/monitoring/health")
            assert r.status_code == 503  # was a 500: `status` passed twice
            assert r.json() == {"error": "no health sample yet", "status": "unhealthy"}
            assert r.headers["retry-after"] == "1"
            group = client.get("/monitoring/health/readiness")
            assert group.status_code == 503 and group.json()["status"] == "unhealthy"
            ready = client.get("/monitoring/ready")
            assert ready.status_code == 503
            assert ready.json()["reason"] == "no health sample yet"
            assert client.get("/monitoring/live").status_code == 200  # liveness never waits

            release.set()
            wait_until(lambda: client.get("/monitoring/health").status_code == 200)
            assert client.get("/monitoring/ready").status_code == 200
    finally:
        release.set()


def test_the_sampler_reads_the_metrics_in_a_worker_thread():
    """Reading the operations' windows back costs milliseconds (tens at 256 operations):
    the error-rate check reads them in a worker thread, never on the event loop. The
    ``judged`` filter is called inside that read, so it tells where the read ran."""
    collector = MetricsCollector(namespace="shop", operations=["create_order"])
    collector.record_operation("create_order", 0.01)
    readers: set[int] = set()

    def judged(name: str) -> bool:
        readers.add(threading.get_ident())
        return True

    health = HealthChecker(None, collector, FAST, judged=judged)

    async def scenario() -> int:
        await health.sample()
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert readers and loop_thread not in readers
