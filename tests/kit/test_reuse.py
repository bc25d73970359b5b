"""Reused: one JSON body built at a time, off the loop, served again while young."""

from __future__ import annotations

import asyncio
import json
import threading

from exporter._reuse import Reused


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_readers_at_once_share_one_build_made_off_the_loop() -> None:
    builds, threads = [], set()
    release = threading.Event()

    def build() -> dict:
        threads.add(threading.get_ident())
        release.wait(5)
        builds.append(1)
        return {"n": len(builds)}

    reused = Reused(build)
    readers = [asyncio.create_task(reused.body()) for _ in range(4)]
    await asyncio.sleep(0.01)
    release.set()
    bodies = await asyncio.gather(*readers)
    assert bodies == [b'{"n":1}'] * 4 and len(builds) == 1
    assert threading.get_ident() not in threads  # the build ran in a worker thread


async def test_a_reader_alone_always_gets_a_body_built_after_its_last_read() -> None:
    clock, count = Clock(), [0]

    def build() -> dict:
        count[0] += 1
        clock.now += 0.010
        return {"n": count[0]}

    reused = Reused(build, clock)
    for n in (1, 2, 3):  # back to back, nothing between: each read sees a new build
        assert json.loads(await reused.body()) == {"n": n}


async def test_overlapping_readers_reuse_a_body_for_three_times_its_cost() -> None:
    clock, count = Clock(), [0]
    started, release = threading.Event(), threading.Event()

    def build() -> dict:
        count[0] += 1
        if count[0] == 1:
            started.set()
            release.wait(5)
        clock.now += 0.010  # the build costs 10 ms
        return {"n": count[0]}

    reused = Reused(build, clock)
    first = asyncio.create_task(reused.body())
    await asyncio.to_thread(started.wait, 5)
    second = asyncio.create_task(reused.body())  # joins the build in flight
    await asyncio.sleep(0)
    release.set()
    assert await first == await second == b'{"n":1}'
    clock.now += 0.029
    assert json.loads(await reused.body()) == {"n": 1}  # 29 ms after: still young
    clock.now += 0.002
    assert json.loads(await reused.body()) == {"n": 2}  # 31 ms after: built again


async def test_forget_makes_the_next_reader_wait_for_a_new_body() -> None:
    clock, count = Clock(), [0]

    def build() -> dict:
        count[0] += 1
        clock.now += 1.0
        return {"n": count[0]}

    reused = Reused(build, clock)
    await reused.body()
    reused.forget()
    assert json.loads(await reused.body()) == {"n": 2}


async def test_a_build_begun_before_forget_is_not_kept() -> None:
    started, release = threading.Event(), threading.Event()
    count = [0]

    def build() -> dict:
        count[0] += 1
        if count[0] == 1:
            started.set()
            release.wait(5)
        return {"n": count[0]}

    reused = Reused(build)
    first = asyncio.create_task(reused.body())
    await asyncio.to_thread(started.wait, 5)
    reused.forget()  # the state changed while the first build ran
    release.set()
    assert json.loads(await first) == {"n": 1}
    assert json.loads(await reused.body()) == {"n": 2}
