"""``/metrics`` renders once however many scrape at once, and reuses a render briefly."""

from __future__ import annotations

import asyncio
import threading
import time

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter.exposition import SPACING, MemoryRenders, MetricsEndpoint
from exporter.multiprocess import RENDER_SUFFIX


class SlowCollector(Collector):
    """Counts its renders; each takes ``seconds`` (in the render thread)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.renders = 0
        self._lock = threading.Lock()

    def collect(self):
        with self._lock:
            self.renders += 1
            n = self.renders
        time.sleep(self.seconds)
        family = GaugeMetricFamily("renders", "renders so far")
        family.add_metric([], n)
        yield family


async def scrape(endpoint: MetricsEndpoint, accept: str = "") -> bytes:
    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"",
             "headers": [(b"accept", accept.encode())]}  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await endpoint(scope, receive, send)
    assert sent[0]["status"] == 200
    return b"".join(m.get("body", b"") for m in sent[1:])


def registry_with(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def test_concurrent_scrapes_share_one_render() -> None:
    slow = SlowCollector(0.2)
    endpoint = MetricsEndpoint(registry_with(slow))

    async def storm() -> list[bytes]:
        return await asyncio.gather(*(scrape(endpoint) for _ in range(8)))

    bodies = asyncio.run(storm())
    assert slow.renders == 1
    assert len(set(bodies)) == 1 and b"renders 1.0" in bodies[0]


def test_a_render_is_reused_only_briefly_and_per_format() -> None:
    now = [100.0]
    slow = SlowCollector(0.0)
    endpoint = MetricsEndpoint(registry_with(slow), cache_seconds=1.0, clock=lambda: now[0])

    async def run() -> None:
        await scrape(endpoint)
        await scrape(endpoint)
        assert slow.renders == 1  # within cache_seconds: the same render
        await scrape(endpoint, "application/openmetrics-text; version=1.0.0")
        assert slow.renders == 2  # another format is another render
        now[0] += 1.01
        assert b"renders 3.0" in await scrape(endpoint)

    asyncio.run(run())


def test_back_to_back_scrapes_leave_the_process_time_between_renders() -> None:
    slow = SlowCollector(0.05)
    endpoint = MetricsEndpoint(registry_with(slow))

    async def run() -> float:
        start = time.monotonic()
        while time.monotonic() - start < 1.0:
            await scrape(endpoint)
        return time.monotonic() - start

    elapsed = asyncio.run(run())
    # each render is reused for SPACING times its duration: at most 1 / (1 + SPACING) of
    # the time renders (plus one render in progress at the end)
    assert slow.renders <= elapsed / (0.05 * (1 + SPACING)) + 2


def test_workers_share_their_renders_so_no_scrape_goes_backwards(tmp_path) -> None:
    """Two workers of one server (one endpoint each, one directory): a worker takes a fresh
    render of the other's instead of its own, and always the newest, so two scrapes in a row
    answered by different workers never see a count go backwards."""
    now = [100.0]
    first, second = SlowCollector(0.0), SlowCollector(0.0)
    second.renders = 10  # its renders say 11, 12 ...
    shared = {"shared_dir": str(tmp_path), "cache_seconds": 1.0, "clock": lambda: now[0]}
    a = MetricsEndpoint(registry_with(first), **shared)
    b = MetricsEndpoint(registry_with(second), **shared)

    async def run() -> None:
        assert b"renders 1.0" in await scrape(a)
        now[0] += 0.5
        assert b"renders 1.0" in await scrape(b)  # a's render, still fresh
        now[0] += 0.51
        assert b"renders 11.0" in await scrape(b)  # stale: b renders
        assert b"renders 11.0" in await scrape(a)  # b's, the newest, not a's own older one
        assert (first.renders, second.renders) == (1, 11)

    asyncio.run(run())


def test_a_worker_waiting_for_its_turn_takes_the_render_finished_meanwhile(tmp_path) -> None:
    slow, other = SlowCollector(0.3), SlowCollector(0.0)
    a = MetricsEndpoint(registry_with(slow), shared_dir=str(tmp_path), cache_seconds=5.0)
    b = MetricsEndpoint(registry_with(other), shared_dir=str(tmp_path), cache_seconds=5.0)

    async def run() -> list[bytes]:
        first = asyncio.create_task(scrape(a))
        while slow.renders == 0:  # until a renders, holding the variant's lock
            await asyncio.sleep(0.001)
        return await asyncio.gather(first, scrape(b))

    bodies = asyncio.run(run())
    assert (slow.renders, other.renders) == (1, 0)
    assert bodies[0] == bodies[1]


def test_filtered_variants_stay_in_memory_and_bounded(tmp_path) -> None:
    """``?name[]=`` variants are the callers' to choose: not one file each in the shared
    directory, and at most ``variants`` of them kept in memory."""
    store = MemoryRenders(variants=2)
    for n in range(3):
        store.render(("text", (f"m{n}",), False), lambda n=n: (1.0, b"%d" % n))
    assert store.get(("text", ("m0",), False)) is None
    assert store.get(("text", ("m2",), False)) == (1.0, b"2")

    registry = CollectorRegistry(auto_describe=True)  # so that a filter finds the family
    registry.register(SlowCollector(0.0))
    endpoint = MetricsEndpoint(registry, shared_dir=str(tmp_path))
    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": [],
             "query_string": b"name[]=renders"}  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(endpoint(scope, receive, send))
    assert sent[0]["status"] == 200 and b"\nrenders " in sent[1]["body"]
    assert not list(tmp_path.glob(f"*{RENDER_SUFFIX}"))
