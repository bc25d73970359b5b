"""The probe benchmark: ``/monitoring/health`` and ``/monitoring/ready`` under concurrent
load, against ``/monitoring/live`` as the floor, in one run.

Each endpoint is driven alone by all the virtual users at once, in turns (live, health,
ready, live, ...) that interleave through the run, so slow drift of the machine hits all
three alike. Driving one endpoint at a time matters: were the three mixed in one stream,
every request would wait in the same queue behind the most expensive one, and the
ratios would say nothing. Live does no work at all, so a ratio is the cost of reading
the latest health snapshot and rendering it (issue 3's goal: p99 <= 2x live).
"""

from __future__ import annotations

import random
from typing import Any

import aiohttp

from .loadgen import Recorder, Request, drive, summarize

FLOOR = "live"
ENDPOINTS = ("live", "health", "ready")


def only(name: str):
    request = Request(name, "GET", f"/monitoring/{name}")

    def next_request(worker: int, rng: random.Random) -> Request:
        return request

    return next_request


def ratios(by_label: dict[str, dict[str, Any]], key: str) -> dict[str, float | None]:
    floor = by_label.get(FLOOR, {}).get(key)
    return {
        name: round(by_label[name][key] / floor, 3) if floor and name in by_label else None
        for name in ENDPOINTS
        if name != FLOOR
    }


async def run(
    session: aiohttp.ClientSession,
    base_url: str,
    *,
    users: int,
    duration: float,
    rate: float = 0.0,
    warmup: float = 1.0,
    slices: int = 6,
    progress: bool = True,
) -> dict[str, Any]:
    """``slices`` turns (a multiple of 3) of ``duration / slices`` seconds each."""
    slices = max(3, slices - slices % 3)
    options = {"users": users, "rate": rate}
    for name in ENDPOINTS:
        await drive(session, base_url, only(name), duration=warmup / 3, progress=False, **options)
    recorder = Recorder()
    for turn in range(slices):
        name = ENDPOINTS[turn % len(ENDPOINTS)]
        await drive(
            session,
            base_url,
            only(name),
            duration=duration / slices,
            title=f"probes:{name}",
            recorder=recorder,
            progress=progress,
            **options,
        )
    result = summarize(recorder, duration)
    return {
        "scenario": "probes",
        "url": base_url,
        "users": users,
        "duration": duration,
        "rate": rate,
        "warmup": warmup,
        **result,
        "p99_ratio": ratios(result["by_label"], "p99"),
        "p50_ratio": ratios(result["by_label"], "p50"),
    }
