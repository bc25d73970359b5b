"""Server CPU per request of a trivial endpoint through a real uvicorn over loopback: bare,
with HttpMetricsMiddleware, and with starlette-exporter's PrometheusMiddleware (issue 10's
"added server CPU per request"). The server's own CPU seconds (psutil) over 4,000 requests
from 8 aiohttp clients, in alternating rounds; medians:

    python -m aiexpense_bench.http_server [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import textwrap
import urllib.request

import aiohttp
import psutil

from .server import free_port

KINDS = ("bare", "ours", "starlette_exporter")
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
    if sys.argv[2] == "ours":
        from exporter import HttpMetricsMiddleware, MetricsCollector
        middleware = [Middleware(HttpMetricsMiddleware, collector=MetricsCollector(namespace="b"))]
    elif sys.argv[2] == "starlette_exporter":
        from starlette_exporter import PrometheusMiddleware
        middleware = [Middleware(PrometheusMiddleware, app_name="b", group_paths=True)]
    app = Starlette(routes=[Route("/items/{item_id}", item)], middleware=middleware)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
    """
)


async def _drive(url: str, requests: int, clients: int = 8) -> None:
    async with aiohttp.ClientSession() as session:

        async def client(count: int) -> None:
            for _ in range(count):
                async with session.get(url) as response:
                    await response.read()

        await asyncio.gather(*(client(requests // clients) for _ in range(clients)))


def _wait_up(url: str) -> None:
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            asyncio.run(asyncio.sleep(0.05))
    raise TimeoutError(f"{url} did not answer")


def server_cpu_per_request(kind: str, requests: int = 4000) -> float:
    """Microseconds of the server process's CPU (user + system) per request."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", APP, str(port), kind])
    url = f"http://127.0.0.1:{port}/items/7"
    try:
        _wait_up(url)
        server = psutil.Process(process.pid)
        asyncio.run(_drive(url, 500))  # warm-up
        before = sum(server.cpu_times()[:2])
        asyncio.run(_drive(url, requests))
        return (sum(server.cpu_times()[:2]) - before) / requests * 1e6
    finally:
        process.terminate()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiexpense_bench.http_server", description=__doc__)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    runs: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(args.rounds):
        for kind in KINDS:
            runs[kind].append(server_cpu_per_request(kind))
    bare, ours, theirs = (statistics.median(runs[kind]) for kind in KINDS)
    for kind in KINDS:
        print(f"{kind:20s} {statistics.median(runs[kind]):6.1f} us/request  {runs[kind]}")
    print(
        f"ours/bare {ours / bare:.3f} (goal <= 1.15); starlette-exporter/bare {theirs / bare:.3f}"
    )
    print(f"ours' added cost / starlette-exporter's {(ours - bare) / (theirs - bare):.3f} (<= 1/3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
