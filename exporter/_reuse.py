"""Work built once for every reader at once, off the event loop, and reused while young.

``Flights``: callers asking for the same key while it is being built share that one build,
made in a worker thread (``/metrics`` renders use it, and so does ``Reused``).

A view of every operation costs milliseconds at a few hundred operations; readers that ask
back to back (a dashboard's panels, a scraper of the JSON views) would each pay it, and the
event loop would pay the encoding. ``Reused`` builds the body (view and JSON encoding) in
a worker thread and hands it to every reader that asks meanwhile. When someone did ask
meanwhile (readers overlap: the view is in demand), the body is also served again until
``SPACING`` times its own cost has passed, the rule ``/metrics`` renders follow: the view is
then at most a few of its own durations old, and reading costs the process at most about a
quarter of one core however many readers there are. A reader alone (a script, a test, a
person) never overlaps a build, so each of its reads is built after the one before: it
always sees its own writes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import anyio.to_thread

SPACING = 3.0  # a build is reused until this many times its own duration has passed
T = TypeVar("T")


class Flights:
    """``await run(key, build)``: ``build()`` in a worker thread, its result shared by every
    caller that asks for ``key`` before it is done (one build however many ask)."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, build: Callable[[], T]) -> T:
        running = self._running.get(key)
        if running is not None:
            result: T = await asyncio.shield(running)
            return result
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            result = await anyio.to_thread.run_sync(build)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self._running[key]


def encode(content: Any) -> bytes:
    """JSON as Starlette's ``JSONResponse`` renders it."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


class Reused:
    """``await body()``: ``build()`` encoded; while readers overlap, at most ``SPACING``
    times its cost old."""

    def __init__(
        self, build: Callable[[], Any], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._build = build
        self._clock = clock
        self._fresh_until = -float("inf")
        self._body = b""
        self._flights = Flights()
        self._generation = 0  # forget() moves it on: a build begun before is not kept
        self._asked = 0  # readers that asked for a build (counted on the loop)

    async def body(self) -> bytes:
        if self._clock() < self._fresh_until:
            return self._body
        self._asked += 1
        return await self._flights.run(None, self._timed)

    def forget(self) -> None:
        """The next reader gets a body built after now (the state just changed)."""
        self._fresh_until = -float("inf")
        self._generation += 1

    def _timed(self) -> bytes:
        generation, asked, began = self._generation, self._asked, self._clock()
        body = encode(self._build())
        ended = self._clock()
        if generation == self._generation and self._asked > asked:  # someone joined
            self._body, self._fresh_until = body, ended + SPACING * (ended - began)
        return body
