"""The job queue: runs, counts and times jobs; refuses when full; drains on shutdown."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aiexpense import JobQueue, JobQueueClosed, JobQueueFull
from aiexpense.domain.operations import Op
from exporter import MetricsCollector
from tests.service.helpers import open_service


def jobs_total(collector: MetricsCollector, job: str, result: str) -> float:
    value = collector.registry.get_sample_value(
        "aiexpense_jobs_total", {"job": job, "result": result}
    )
    return value or 0.0


def gauge(collector: MetricsCollector, name: str) -> float | None:
    return collector.registry.get_sample_value(f"aiexpense_{name}")


@pytest.fixture
def collector() -> MetricsCollector:
    return MetricsCollector(namespace="aiexpense", operations=Op.all(), process_metrics=False)


async def test_jobs_run_are_counted_and_catalogued_ones_timed(collector, caplog):
    jobs = JobQueue(collector, workers=2, capacity=10)
    await jobs.start()
    done: list[str] = []

    async def reply(text: str, *, to: str) -> None:
        done.append(f"{to}:{text}")

    async def broken() -> None:
        raise ValueError("platform said no")

    ids = [await jobs.submit(Op.SEND_REPLY, reply, f"hi {i}", to="amy") for i in range(3)]
    failed = await jobs.submit("refresh_rates", broken)  # not catalogued: counted, not timed
    assert len(set(ids)) == 3 and ids[0].startswith("send_reply-")
    assert await jobs.stop() == []
    assert sorted(done) == ["amy:hi 0", "amy:hi 1", "amy:hi 2"]
    assert jobs_total(collector, "send_reply", "ok") == 3
    assert jobs_total(collector, "refresh_rates", "error") == 1
    assert collector.get(Op.SEND_REPLY).count == 3
    assert collector.get("refresh_rates") is None
    assert f"job {failed} (refresh_rates) failed" in caplog.text
    assert "platform said no" in caplog.text


async def test_a_full_queue_refuses_at_once(collector):
    jobs = JobQueue(collector, workers=1, capacity=2, drain_seconds=5)
    await jobs.start()
    gate = asyncio.Event()
    await jobs.submit("wait", gate.wait)
    await asyncio.sleep(0.01)  # the worker takes the first job: the queue is empty again
    await jobs.submit("wait", gate.wait)
    await jobs.submit("wait", gate.wait)
    assert jobs.depth == 2 and jobs.in_progress == 1
    assert gauge(collector, "job_queue_depth") == 2
    assert gauge(collector, "job_queue_capacity") == 2
    assert gauge(collector, "jobs_in_progress") == 1
    with pytest.raises(JobQueueFull, match="full"):
        await jobs.submit("wait", gate.wait)
    gate.set()
    assert await jobs.stop() == []
    assert jobs_total(collector, "wait", "ok") == 3
    assert jobs_total(collector, "wait", "error") == 1  # the refused one


async def test_submit_needs_a_running_queue(collector):
    jobs = JobQueue(collector)

    async def noop() -> None:
        pass

    with pytest.raises(JobQueueClosed):
        await jobs.submit("noop", noop)
    await jobs.start()
    with pytest.raises(ValueError, match="invalid job name"):
        await jobs.submit("Bad Name", noop)
    await jobs.stop()
    with pytest.raises(JobQueueClosed):
        await jobs.submit("noop", noop)


async def test_shutdown_drains_then_logs_every_job_left_by_id(collector, caplog):
    caplog.set_level(logging.INFO, logger="aiexpense.jobs")
    jobs = JobQueue(collector, workers=1, capacity=100, drain_seconds=0.3)
    await jobs.start()
    finished: list[int] = []

    async def work(n: int, seconds: float) -> None:
        await asyncio.sleep(seconds)
        finished.append(n)

    quick = [await jobs.submit("work", work, n, 0.01) for n in range(5)]
    slow = [await jobs.submit("work", work, n, 10) for n in range(5, 8)]
    left = await jobs.stop()

    assert finished == [0, 1, 2, 3, 4]  # the quick ones drained within the deadline
    assert left == slow  # one cancelled while running, two never started, all by id
    running, *queued = slow
    assert f"job {running} (work) cancelled at shutdown while running" in caplog.text
    for job_id in queued:
        assert f"job {job_id} (work) dropped at shutdown: never started" in caplog.text
    assert f"3 job(s) left undone after the 0.3s drain: {', '.join(slow)}" in caplog.text
    assert not set(quick) & set(left)
    assert jobs_total(collector, "work", "ok") == 5
    assert jobs_total(collector, "work", "error") == 3  # nothing disappears from the counts
    assert jobs.depth == 0 and jobs.in_progress == 0


async def test_service_stop_drains_its_queue(database, caplog):
    async with open_service(database.url, job_workers=2, job_drain_seconds=5) as service:
        ran: list[int] = []

        async def reply(n: int) -> None:
            await asyncio.sleep(0.01)
            ran.append(n)

        for n in range(20):
            await service.jobs.submit(Op.SEND_REPLY, reply, n)
        assert service.system_extras()["job_queue_depth"] > 0
    # open_service's exit called service.stop(): every queued reply was sent
    assert sorted(ran) == list(range(20))
    assert "left undone" not in caplog.text
    assert service.collector.get(Op.SEND_REPLY).count == 20
