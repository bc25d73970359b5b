"""An HTTP load driver: virtual users on one aiohttp session, latencies in HDR histograms.

``drive()`` runs ``users`` concurrent workers for ``duration`` seconds. Each asks
``next_request(worker, rng)`` what to send. With ``rate`` 0 the workers are a closed loop
(each sends its next request when the last one is answered: the service's saturation
throughput); with a ``rate`` (requests/s over all users) each worker keeps a schedule and
a request's latency counts from when it *should* have been sent, so a stalled service
cannot hide its stall by slowing the client down (no coordinated omission). The round
trip alone (from the actual send) is kept too: on a busy machine the difference is the
load generator's own lateness in waking up, not the service's.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

MAX_MICROS = 60_000_000  # histograms cover 1 us .. 60 s at 3 significant digits


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, MAX_MICROS, 3)


def decode_histogram(encoded: str) -> HdrHistogram:
    """A histogram back from ``summarize()``'s ``hdr`` field (HdrHistogram's base64 form)."""
    return HdrHistogram.decode(encoded)


@dataclass(frozen=True, slots=True)
class Request:
    label: str  # what the request is, e.g. "create_expense"
    method: str
    path: str
    json: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


@dataclass
class Recorder:
    """Latency histograms (all requests and per label), statuses and a per-second count."""

    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    planned: float = 0.0  # seconds of driving asked for so far (for the progress line)
    total: HdrHistogram = field(default_factory=new_histogram)  # from the scheduled send
    round_trip: HdrHistogram = field(default_factory=new_histogram)  # from the actual send
    by_label: dict[str, HdrHistogram] = field(default_factory=dict)
    responses: Counter = field(default_factory=Counter)  # label -> answered (any status)
    errors: Counter = field(default_factory=Counter)  # label -> failed (>= 400 or no answer)
    per_second: Counter = field(default_factory=Counter)  # second -> completed requests

    def record(self, label: str, micros: int, trip: int, ok: bool, answered: bool) -> None:
        micros = max(1, min(micros, MAX_MICROS))
        self.total.record_value(micros)
        self.round_trip.record_value(max(1, min(trip, MAX_MICROS)))
        self.by_label.setdefault(label, new_histogram()).record_value(micros)
        if answered:
            self.responses[label] += 1
        if not ok:
            self.errors[label] += 1
        self.per_second[int(time.monotonic() - self.started)] += 1

    @property
    def count(self) -> int:
        return self.total.get_total_count()

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started


async def send(session: aiohttp.ClientSession, base_url: str, request: Request) -> int:
    """Send one request, read the whole answer, return its status."""
    url = base_url + request.path
    async with session.request(
        request.method, url, json=request.json, headers=request.headers
    ) as r:
        await r.read()
        return r.status


async def _worker(
    session: aiohttp.ClientSession,
    base_url: str,
    index: int,
    next_request: Callable[[int, random.Random], Request],
    recorder: Recorder,
    deadline: float,
    interval: float,
    first_due: float,
) -> None:
    rng = random.Random(index)
    due = first_due
    while True:
        if interval:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        sent = time.monotonic()
        start = due if interval else sent
        if start >= deadline:
            return
        request = next_request(index, rng)
        try:
            status = await send(session, base_url, request)
            ok, answered = status < 400, True
        except (TimeoutError, aiohttp.ClientError):
            ok, answered = False, False
        done = time.monotonic()
        recorder.record(
            request.label, int((done - start) * 1e6), int((done - sent) * 1e6), ok, answered
        )
        due += interval


async def drive(
    session: aiohttp.ClientSession,
    base_url: str,
    next_request: Callable[[int, random.Random], Request],
    *,
    users: int,
    duration: float,
    rate: float = 0.0,
    title: str = "",
    progress: bool = True,
    recorder: Recorder | None = None,
) -> Recorder:
    """Run the workers until ``duration`` has passed and every request has its answer.

    Pass a ``recorder`` to add to one from an earlier call (the probe benchmark does).
    """
    recorder = recorder or Recorder()
    start = time.monotonic()
    deadline = start + duration
    recorder.planned += duration
    interval = users / rate if rate > 0 else 0.0
    # With a rate, the users' schedules are spread evenly over one interval.
    workers = [
        asyncio.create_task(
            _worker(
                session,
                base_url,
                i,
                next_request,
                recorder,
                deadline,
                interval,
                start + interval * i / users,
            )
        )
        for i in range(users)
    ]
    reporter = asyncio.create_task(_report(recorder, title)) if progress else None
    await asyncio.gather(*workers)
    recorder.finished = time.monotonic()
    if reporter is not None:
        reporter.cancel()
        _print_progress(recorder, title, final=True)
    return recorder


async def _report(recorder: Recorder, title: str) -> None:
    every = 1.0 if sys.stderr.isatty() else 5.0
    while True:
        await asyncio.sleep(every)
        _print_progress(recorder, title, final=False)


def _print_progress(recorder: Recorder, title: str, *, final: bool) -> None:
    elapsed, duration = recorder.elapsed, recorder.planned
    p99 = recorder.total.get_value_at_percentile(99) / 1000 if recorder.count else 0.0
    errors = sum(recorder.errors.values())
    line = (
        f"  {title:<13} {min(elapsed, duration):5.1f}/{duration:.3g} s  {recorder.count:>8,}"
        f" requests  {recorder.count / max(elapsed, 1e-9):>8,.0f} req/s  p99 {p99:7.2f} ms"
        f"  errors {errors}"
    )
    tty = sys.stderr.isatty()
    end = "\n" if final or not tty else "\r"
    print(line, end=end, file=sys.stderr, flush=True)


def _ms(micros: float) -> float:
    return round(micros / 1000, 3)


def latency_summary(histogram: HdrHistogram) -> dict[str, float]:
    """Milliseconds: mean, p50, p95, p99, max."""
    if histogram.get_total_count() == 0:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "mean": _ms(histogram.get_mean_value()),
        "p50": _ms(histogram.get_value_at_percentile(50)),
        "p95": _ms(histogram.get_value_at_percentile(95)),
        "p99": _ms(histogram.get_value_at_percentile(99)),
        "max": _ms(histogram.get_max_value()),
    }


def summarize(recorder: Recorder, duration: float) -> dict[str, Any]:
    """The client's view of a run: throughput, latency percentiles, errors, per label.

    ``per_second`` holds the requests completed in each whole second of the run (the
    values ``aiexpense-bench compare`` tests for a change in throughput).
    """
    per_second = [recorder.per_second[s] for s in range(int(duration))]
    summary = _summary(
        recorder.total, recorder.by_label, recorder.errors, recorder.elapsed, per_second
    )
    return {**summary, **_round_trip(recorder.round_trip)}


def merge_summaries(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several ``summarize()`` results as one (histograms added, counts summed)."""
    total, trip, labels, errors = new_histogram(), new_histogram(), {}, Counter()
    for run in runs:
        total.add(decode_histogram(run["hdr"]))
        trip.add(decode_histogram(run["round_trip_hdr"]))
        for label, part in run["by_label"].items():
            labels.setdefault(label, new_histogram()).add(decode_histogram(part["hdr"]))
            errors[label] += part["errors"]
    elapsed = sum(r["elapsed_seconds"] for r in runs)
    per_second = [n for r in runs for n in r["per_second"]]
    return {**_summary(total, labels, errors, elapsed, per_second), **_round_trip(trip)}


def _round_trip(histogram: HdrHistogram) -> dict[str, Any]:
    return {
        "round_trip_ms": latency_summary(histogram),
        "round_trip_hdr": histogram.encode().decode(),
    }


def _summary(
    total: HdrHistogram,
    labels: dict[str, HdrHistogram],
    errors: Counter,
    elapsed: float,
    per_second: list[int],
) -> dict[str, Any]:
    count, failed = total.get_total_count(), sum(errors.values())
    return {
        "requests": count,
        "errors": failed,
        "error_rate_percent": round(100.0 * failed / count, 3) if count else 0.0,
        "elapsed_seconds": round(elapsed, 3),
        "throughput_rps": round(count / elapsed, 1) if count and elapsed else 0.0,
        "latency_ms": latency_summary(total),
        "by_label": {
            label: {
                "requests": h.get_total_count(),
                "errors": errors[label],
                **latency_summary(h),
                "hdr": h.encode().decode(),
            }
            for label, h in sorted(labels.items())
        },
        "per_second": per_second,
        "hdr": total.encode().decode(),
    }
