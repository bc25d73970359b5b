"""Two ``exporter serve`` replicas on one PostgreSQL, as subprocesses, as Kubernetes would run
them; a real Prometheus scraping both and a real Alertmanager paging this test's receiver,
which also stands in for Telegram's Bot API (``sendMessage``, optionally slow).

- the dashboards' queries aggregate across both targets; SIGKILL one replica: its
  TargetDown page reaches Alertmanager's receiver while the other keeps answering;
- a write on replica A is read on replica B, whose cache was warm, within the bound;
- the same Telegram update delivered to A and B at once records one expense, one reply;
- 20 Telegram messages acknowledged by A, A SIGKILLed while its replies are in flight:
  every message gets its reply (from B), duplicates at most A's reply workers, counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_e2e_monitoring import RATE_INTERVAL, drive_load, problems_with
from tests.ops import dashboard_queries
from tests.service.helpers import ADMIN, ADMIN_TOKEN, scalar
from tests.support import (
    JOB,
    SCRAPE,
    TELEGRAM_BOT_TOKEN,
    TELEGRAM_SECRET,
    Sink,
    alertmanager_process,
    free_port,
    log_tail,
    prometheus_process,
    render_alerting_rules,
    stop,
    wait_until,
)

pytestmark = pytest.mark.slow

HEARTBEAT = 0.5  # EXPORTER_CACHE_HEARTBEAT_SECONDS: staleness bound 1 s
REPLY_WORKERS = 4
SECRET = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}


class Replica:
    """``python -m aiexpense serve --port P`` on the shared database."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "aiexpense", "serve", "--port", str(self.port),
                 "--log-level", "warning"],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def up(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"replica {self.name} exited:\n{log_tail(self.log)}")
        try:
            return httpx.get(f"{self.url}/monitoring/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, line_start: str) -> float:
        for line in httpx.get(f"{self.url}/metrics", timeout=5).text.splitlines():
            if line.startswith(line_start + " "):
                return float(line.split()[-1])
        return 0.0

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        stop(self.process)


@pytest.fixture
def replicas(database, sink, tmp_path) -> Iterator[Callable[[str], Replica]]:
    """``start(name, **env)``: a replica, ready, with ``env`` over the shared environment
    (another ``DATABASE_URL``, say); all stopped at the end."""
    env = {
        **os.environ,
        "DATABASE_URL": database.url,
        "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_BOT_TOKEN,
        "EXPORTER_TELEGRAM_API_BASE": f"{sink.url}/telegram",
        "EXPORTER_CACHE_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "EXPORTER_ADMIN_TOKEN": ADMIN_TOKEN,  # sign-up is the admin's
        "EXPORTER_REPLY_WORKERS": str(REPLY_WORKERS),
        "EXPORTER_REPLY_TIMEOUT_SECONDS": "5",
        "EXPORTER_REPLY_LEASE_SECONDS": "6",
        "EXPORTER_REPLY_POLL_SECONDS": "0.2",
        "EXPORTER_HEALTH_INTERVAL_SECONDS": "0.5",
    }
    started: list[Replica] = []

    def start(name: str, **overrides: str) -> Replica:
        replica = Replica(name, {**env, **overrides}, tmp_path / f"replica-{name}.log")
        started.append(replica)
        wait_until(replica.up, timeout=60)
        return replica

    try:
        yield start
    finally:
        for replica in started:
            replica.stop()


def telegram_update(update_id: int, text: str, chat: int = 5_000_001) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Amy"},
            "text": text,
        },
    }


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run ``calls`` in threads released together."""
    barrier = threading.Barrier(len(calls))
    results: list[httpx.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def outbox_settled(url: str) -> bool:
    return scalar(url, "SELECT count(*) FROM reply_outbox WHERE state = 'queued'") == 0


def replied_to(sink: Sink) -> Counter[int]:
    """How many replies each Telegram message id got."""
    with sink.lock:
        return Counter(r["reply_parameters"]["message_id"] for r in sink.replies)


# -- Prometheus over both replicas, and a dead one paging -------------------------------


def test_dashboards_aggregate_both_replicas_and_a_killed_one_pages(replicas, sink, tmp_path):
    a, b = replicas("a"), replicas("b")
    rules = render_alerting_rules(tmp_path, {"TargetDown": "2s"})
    with contextlib.ExitStack() as stack:
        am = stack.enter_context(alertmanager_process(tmp_path / "alertmanager", sink.url))
        prometheus = stack.enter_context(
            prometheus_process(tmp_path / "prometheus", [a.url, b.url], [rules], am)
        )

        async def load() -> list:
            return await asyncio.gather(
                drive_load(a.url, 10.0, 3, first=0), drive_load(b.url, 10.0, 3, first=100)
            )

        reports = asyncio.run(load())
        for report in reports:
            assert not report.unexpected(), report.unexpected()
        ended = max(r.ended for r in reports)
        started = min(r.started for r in reports)
        wait_until(lambda: time.time() > ended + 2 * SCRAPE, timeout=10)
        at, start = ended - 1.0, started + 5 * SCRAPE
        queries = dashboard_queries(
            rate_interval=RATE_INTERVAL, interval=f"{SCRAPE}s", range_=f"{int(ended - started)}s"
        )
        failures = []
        for q in queries:
            result = (
                prometheus.query(q.promql, at=at)
                if q.instant
                else prometheus.query_range(q.promql, start, at)
            )
            problem = problems_with(result)
            instances = {s["metric"]["instance"] for s in result if "instance" in s["metric"]}
            if not problem and instances and instances != {a.target, b.target}:
                problem = f"only {sorted(instances)}"  # a per-instance panel missing one
            if problem:
                failures.append(f"{q.panel} ({q.ref_id}): {problem}\n    {q.promql}")
        assert not failures, "dashboard queries:\n" + "\n".join(failures)
        # an aggregate is the sum over both targets: each replica served its own share
        per_instance = prometheus.query(
            f'sum by (instance) (aiexpense_operations_total{{job="{JOB}",'
            f' operation="create_expense"}})',
            at=at,
        )
        total = prometheus.query(
            f'sum(aiexpense_operations_total{{job="{JOB}", operation="create_expense"}})', at=at
        )
        shares = {s["metric"]["instance"]: float(s["value"][1]) for s in per_instance}
        assert set(shares) == {a.target, b.target} and min(shares.values()) > 0
        assert float(total[0]["value"][1]) == sum(shares.values())

        # SIGKILL b: its TargetDown page reaches the receiver; a keeps answering meanwhile
        b.kill()
        answers: Counter[int] = Counter()

        def paged() -> list:
            answers[httpx.get(f"{a.url}/api/categories", timeout=5).status_code] += 1
            return [
                (n, alert)
                for n, alert in sink.alerts("TargetDown", "firing")
                if alert["labels"]["instance"] == b.target
            ]

        (notification, alert), *_ = wait_until(paged, timeout=60, interval=0.2)
        assert (notification["_path"], notification["receiver"]) == ("page", "pager")
        assert alert["labels"]["job"] == JOB and alert["labels"]["severity"] == "page"
        assert not [
            al for _, al in sink.alerts("TargetDown", "firing")
            if al["labels"]["instance"] == a.target
        ]  # fmt: skip
        assert set(answers) == {200} and answers[200] >= 5
        assert prometheus.query(f'up{{job="{JOB}", instance="{a.target}"}} == 1')


# -- caches -----------------------------------------------------------------------------


def test_a_write_on_a_is_read_on_b_whose_cache_was_warm_within_the_bound(replicas):
    a, b = replicas("a"), replicas("b")
    # the admin token may act for anyone: one credential for both replicas' clients
    with (
        httpx.Client(base_url=a.url, headers=ADMIN) as on_a,
        httpx.Client(base_url=b.url, headers=ADMIN) as on_b,
    ):
        user = on_a.post("/api/users", json={"external_id": "amy"}).json()["id"]
        on_a.post("/api/expenses", json={"user_id": user, "amount": "10", "description": "tea"})

        def listed() -> list[str]:
            answer = on_b.get("/api/expenses", params={"user_id": user})
            assert answer.status_code == 200, answer.text
            return sorted(e["description"] for e in answer.json()["expenses"])

        hits = 'aiexpense_cache_requests_total{cache="expenses",result="hit"}'
        wait_until(lambda: listed() == ["tea"] and b.metric(hits) >= 1)  # b's cache is warm
        written = time.monotonic()
        made = on_a.post(
            "/api/expenses", json={"user_id": user, "amount": "4", "description": "cake"}
        )
        assert made.status_code == 201
        wait_until(lambda: listed() == ["cake", "tea"], timeout=5, interval=0.01)
    assert time.monotonic() - written <= 2 * HEARTBEAT  # the documented bound
    assert b.metric('aiexpense_cache_invalidations_total{cache="expenses",source="notify"}') >= 1
    assert b.metric("aiexpense_cache_listener_up") == 1


# -- webhooks ---------------------------------------------------------------------------


def test_the_same_update_delivered_to_both_at_once_records_one_expense(replicas, sink, database):
    a, b = replicas("a"), replicas("b")
    updates = [telegram_update(9000 + i, f"lunch {100 + i}") for i in range(10)]
    for update in updates:
        answers = at_once(
            lambda u=update: httpx.post(f"{a.url}/webhook/telegram", json=u, headers=SECRET),
            lambda u=update: httpx.post(f"{b.url}/webhook/telegram", json=u, headers=SECRET),
        )
        assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    wait_until(lambda: len(replied_to(sink)) == 10 and outbox_settled(database.url), timeout=20)
    assert scalar(database.url, "SELECT count(*) FROM expenses") == 10
    assert scalar(database.url, "SELECT count(DISTINCT message_id) FROM expenses") == 10
    assert replied_to(sink) == Counter({u["update_id"]: 1 for u in updates})
    assert scalar(database.url, "SELECT count(*) FROM webhook_deliveries") == 10


def test_replies_acknowledged_by_a_replica_killed_mid_reply_are_all_sent(replicas, sink, database):
    a, b = replicas("a"), replicas("b")
    sink.reply_delay = 2.0  # a slow Bot API: a's replies are in flight when it dies
    with httpx.Client(base_url=a.url, headers=SECRET) as on_a:
        for i in range(20):
            acked = on_a.post("/webhook/telegram", json=telegram_update(100 + i, f"taxi {i + 1}"))
            assert acked.status_code == 200, acked.text  # acknowledged to "Telegram"
    a.kill()
    killed = time.monotonic()
    wait_until(lambda: outbox_settled(database.url), timeout=60, interval=0.2)
    got = replied_to(sink)
    assert set(got) == {100 + i for i in range(20)}  # every message got its reply
    duplicates = sum(got.values()) - 20
    reclaimed = b.metric('aiexpense_replies_total{outcome="reclaimed"}')
    assert 1 <= reclaimed <= REPLY_WORKERS  # a died holding rows; b took them over
    assert duplicates <= reclaimed  # every duplicate is a counted possible duplicate
    assert b.metric('aiexpense_replies_total{outcome="failed"}') == 0
    assert scalar(database.url, "SELECT count(*) FROM reply_outbox WHERE state = 'delivered'") == 20
    assert time.monotonic() - killed < 60
