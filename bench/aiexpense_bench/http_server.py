"""Server CPU per request of a trivial endpoint through a real uvicorn over loopback: bare,
with HttpMetricsMiddleware (kit names, and OpenTelemetry names), and with starlette-exporter's
PrometheusMiddleware (issues 10 and 19's "added server CPU per request").

Every server runs for the whole measurement (one process each, started and warmed once).
In a round, 8 keep-alive aiohttp clients each send a request to every server in turn
(each client starting at another server), ``--requests`` to each server: the servers are
measured in the same moments, so what the shared machine does to one round (another
tenant's load, the clock speed) it does to every server alike. The rounds' ratios spread
a quarter as much as when the servers took turns a round at a time. A server's CPU is
read from ``/proc/<pid>/task/*/schedstat`` (nanoseconds on CPU, every thread), falling back
to ``/proc/<pid>/stat`` ticks (psutil) where schedstat is missing. The result is the
median over rounds of each round's ratio to bare:

    python -m aiexpense_bench.http_server [--rounds 15] [--requests 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator

import aiohttp
import psutil

from .server import free_port

KINDS = ("bare", "ours", "ours_otel", "starlette_exporter")  # also: ours_no_operation
APP = textwrap.dedent(
    """
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def item(request):
        return PlainTextResponse("ok")

    middleware = []
    if sys.argv[2].startswith("ours"):
        from exporter import HttpMetricsMiddleware, MetricsCollector
        options = {"ours_otel": {"names": "otel"}, "ours_no_operation": {"operation": None}}
        options = options.get(sys.argv[2], {})
        collector = MetricsCollector(namespace="b")
        middleware = [Middleware(HttpMetricsMiddleware, collector=collector, **options)]
    elif sys.argv[2] == "starlette_exporter":
        from starlette_exporter import PrometheusMiddleware
        middleware = [Middleware(PrometheusMiddleware, app_name="b", group_paths=True)]
    app = Starlette(routes=[Route("/items/{item_id}", item)], middleware=middleware)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
    """
)


async def _drive(urls: list[str], requests: int, clients: int = 8) -> None:
    """``requests`` GETs to each of ``urls``: every client asks each in turn."""
    async with aiohttp.ClientSession() as session:

        async def client(k: int, count: int) -> None:
            turn = urls[k % len(urls) :] + urls[: k % len(urls)]
            for _ in range(count):
                for url in turn:
                    async with session.get(url) as response:
                        await response.read()

        await asyncio.gather(*(client(k, requests // clients) for k in range(clients)))


def _wait_up(url: str) -> None:
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            asyncio.run(asyncio.sleep(0.05))
    raise TimeoutError(f"{url} did not answer")


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far, every thread: schedstat's nanoseconds when the kernel
    keeps them, else user + system from ``/proc/<pid>/stat`` (clock ticks, 10 ms apart)."""
    try:
        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        return float(sum(psutil.Process(pid).cpu_times()[:2]))


class Server:
    """One uvicorn of the given kind, running until closed."""

    def __init__(self, kind: str) -> None:
        port = free_port()
        self.kind = kind
        self.url = f"http://127.0.0.1:{port}/items/7"
        self.process = subprocess.Popen([sys.executable, "-c", APP, str(port), kind])
        _wait_up(self.url)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


@contextlib.contextmanager
def servers(kinds: tuple[str, ...]) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for kind in kinds:
            started.append(Server(kind))
        yield started
    finally:
        for server in started:
            server.close()


def measure(
    kinds: tuple[str, ...] = KINDS, rounds: int = 15, requests: int = 4000
) -> dict[str, list[float]]:
    """kind -> microseconds of server CPU per request, one value a round."""
    runs: dict[str, list[float]] = {kind: [] for kind in kinds}
    with servers(kinds) as running:
        asyncio.run(_drive([s.url for s in running], 1000))  # warm: routes learnt, children bound
        for _ in range(rounds):
            before = [cpu_seconds(s.process.pid) for s in running]
            asyncio.run(_drive([s.url for s in running], requests))
            for server, start in zip(running, before, strict=True):
                used = cpu_seconds(server.process.pid) - start
                runs[server.kind].append(used / requests * 1e6)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiexpense_bench.http_server", description=__doc__)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--requests", type=int, default=4000)
    p.add_argument("--kinds", default=",".join(KINDS))
    args = p.parse_args(argv)
    kinds = tuple(args.kinds.split(","))
    runs = measure(kinds, args.rounds, args.requests)
    bare = runs["bare"]
    for kind in kinds:
        line = f"{kind:20s} {statistics.median(runs[kind]):6.1f} us/request"
        if kind != "bare":
            ratios = [k / b for k, b in zip(runs[kind], bare, strict=True)]
            line += f"  {statistics.median(ratios):.3f}x bare (median of {len(ratios)} rounds)"
        print(line)
    if "ours" in runs and "starlette_exporter" in runs:
        added = [o - b for o, b in zip(runs["ours"], bare, strict=True)]
        theirs = [t - b for t, b in zip(runs["starlette_exporter"], bare, strict=True)]
        share = statistics.median(added) / statistics.median(theirs)
        print(f"ours' added cost / starlette-exporter's {share:.3f} (<= 1/3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
