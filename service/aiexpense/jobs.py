"""A bounded in-process job queue: work that should not hold up the request that caused it.

    job_id = await jobs.submit(Op.SEND_REPLY, send_reply, chat_id, text)

``submit`` never waits: when the queue is full it raises :class:`JobQueueFull` at once, so
a burst shows up as an error the caller handles, not as requests hanging. ``N`` worker
tasks run jobs in order of submission. A job whose name is in the operation catalog
(``send_reply``) is timed as that operation; every job is counted in
``<ns>_jobs_total{job, result="ok|error"}``.

On :meth:`JobQueue.stop` no new jobs are taken, the queue gets ``drain_seconds`` to empty,
then what is still queued or running is logged by id and counted as an error: nothing
disappears silently. The queue lives in memory, so jobs do not survive the process; work
that must never be lost belongs in a table: replies go to :mod:`aiexpense.store.outbox`, which
counts its deliveries here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Final

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from aiexpense.domain.operations import Op
from exporter import Recorder

from .domain.errors import JobQueueClosed, JobQueueFull

log = logging.getLogger(__name__)

# Job names become label values: fixed names from code, never user input.
_JOB_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CATALOGUED: Final = frozenset(Op.all())


@dataclass(slots=True)
class Job:
    id: str
    name: str
    func: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


class JobQueue:
    """Bounded FIFO of async jobs with ``workers`` concurrent runners."""

    def __init__(
        self,
        collector: Recorder,
        *,
        workers: int = 2,
        capacity: int = 1000,
        drain_seconds: float = 10.0,
    ) -> None:
        if workers < 1 or capacity < 1:
            raise ValueError("a job queue needs at least one worker and a capacity of one")
        self.workers = workers
        self.capacity = capacity
        self.drain_seconds = drain_seconds
        self._collector = collector
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=capacity)
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._accepting = False
        self._results = Counter(
            "jobs",
            "Jobs finished, by job name and result (ok or error).",
            ("job", "result"),
            namespace=collector.namespace,
            registry=collector.registry,
        )
        self._children: dict[str, tuple[Any, Any]] = {}
        collector.registry.register(_QueueGauges(self, collector.namespace))

    # -- state (cheap, no I/O) -------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Jobs waiting for a worker."""
        return self._queue.qsize()

    @property
    def in_progress(self) -> int:
        """Jobs a worker is running now."""
        return len(self._running)

    @property
    def accepting(self) -> bool:
        return self._accepting

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        self._accepting = True
        self._tasks = [
            asyncio.create_task(self._work(), name=f"job-worker-{i}") for i in range(self.workers)
        ]

    async def stop(self) -> list[str]:
        """Stop taking jobs, drain within ``drain_seconds``; return the ids left undone."""
        self._accepting = False
        if not self._tasks:
            return []
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), self.drain_seconds)
        left = list(self._running)  # still running at the deadline: cancelled below
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            self._queue.task_done()
            left.append(job.id)
            self.count(job.name, ok=False)
            log.error("job %s (%s) dropped at shutdown: never started", job.id, job.name)
        if left:
            log.error(
                "%d job(s) left undone after the %.1fs drain: %s",
                len(left),
                self.drain_seconds,
                ", ".join(left),
            )
        return left

    # -- submitting ------------------------------------------------------------------------

    async def submit(
        self, name: str, func: Callable[..., Awaitable[Any]], /, *args: Any, **kwargs: Any
    ) -> str:
        """Queue ``await func(*args, **kwargs)`` as job ``name``; return its id at once.

        Raises :class:`JobQueueFull` when ``capacity`` jobs are waiting and
        :class:`JobQueueClosed` before ``start`` or once ``stop`` has begun.
        """
        if not _JOB_NAME.fullmatch(name):
            raise ValueError(f"invalid job name {name!r}: expected [a-z][a-z0-9_]*")
        if not callable(func):
            raise TypeError(f"job {name!r}: {func!r} is not callable")
        if not self._accepting:
            raise JobQueueClosed(f"job queue is not accepting jobs; {name!r} not queued")
        job = Job(f"{name}-{next(self._ids)}", name, func, args, kwargs)
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.count(name, ok=False)
            raise JobQueueFull(
                f"job queue is full ({self.capacity} waiting); {name!r} not queued"
            ) from None
        return job.id

    # -- running ---------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._run(job)
            finally:
                self._queue.task_done()

    async def _run(self, job: Job) -> None:
        self._running[job.id] = job
        start = perf_counter()
        error: BaseException | None = None
        try:
            await job.func(*job.args, **job.kwargs)
        except asyncio.CancelledError as exc:
            error = exc
            log.error("job %s (%s) cancelled at shutdown while running", job.id, job.name)
            raise
        except Exception as exc:
            error = exc
            log.exception("job %s (%s) failed", job.id, job.name)
        finally:
            del self._running[job.id]
            if job.name in _CATALOGUED:
                self._collector.record_operation(job.name, perf_counter() - start, error)
            self.count(job.name, ok=error is None)

    def count(self, name: str, *, ok: bool) -> None:
        """Count one finished ``name`` job in ``<ns>_jobs_total`` (also for work run
        elsewhere, such as the reply outbox's deliveries)."""
        children = self._children.get(name)
        if children is None:
            children = (self._results.labels(name, "ok"), self._results.labels(name, "error"))
            self._children[name] = children
        children[0 if ok else 1].inc()


class _QueueGauges(Collector):
    """Depth, capacity and in-progress count, read at scrape time."""

    def __init__(self, jobs: JobQueue, namespace: str) -> None:
        self._jobs = jobs
        self._ns = namespace

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = self._jobs
        for name, doc, value in (
            ("job_queue_depth", "Jobs waiting for a worker.", jobs.depth),
            ("job_queue_capacity", "Jobs the queue holds before refusing more.", jobs.capacity),
            ("jobs_in_progress", "Jobs a worker is running now.", jobs.in_progress),
        ):
            yield GaugeMetricFamily(f"{self._ns}_{name}", doc, value=value)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self.collect()
