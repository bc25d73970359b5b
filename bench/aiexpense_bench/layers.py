"""What each layer of the service's HTTP stack costs: server CPU per request through a real
uvicorn over loopback, driven by wrk (in C, so the cores go to the server), layer upon layer:

    bare          a Starlette app, one JSON route, uvicorn's defaults
    + request ids RequestIdMiddleware
    + limits      LimitedHttpToolsProtocol (header limits, one write per answer) + BodyReadTimeout
    + logs        the service's JSON logging set-up (at warning: no line per request)
    + metrics     HttpMetricsMiddleware on a MetricsCollector (the route is counted)
    service live  the whole service (create_app): GET /monitoring/live
    service cats  GET /api/categories (no credential, cached)
    + auth        GET /api/users/{id} with the person's own token (cached)

The server's CPU seconds (user + system, from /proc) over each wrk run, divided by the
requests answered; rounds alternate between the layers; medians and ratios to bare:

    python -m aiexpense_bench.layers --database-url postgresql://... [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request

from .server import free_port

LAYERS = ("bare", "request_ids", "limits", "logs", "metrics", "service_live", "service_cats",
          "auth")  # fmt: skip
ADMIN = "layers-admin-token-0123456789abcdef"
APP = textwrap.dedent(
    """
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    port, layer = int(sys.argv[1]), sys.argv[2]
    order = ("bare", "request_ids", "limits", "logs", "metrics")
    on = set(order[: order.index(layer) + 1]) if layer in order else None

    async def item(request):
        return JSONResponse({"status": "alive"})

    options = {"log_level": "warning", "access_log": False}
    if on is None:  # the service itself
        from aiexpense.app import create_app
        from aiexpense.http.limits import uvicorn_options
        from aiexpense import logs
        app = create_app()
        options.update(uvicorn_options(), log_config=logs.config_dict("warning", "json"))
    else:
        middleware = []
        if "request_ids" in on:
            from aiexpense.http.request_id import RequestIdMiddleware
            middleware.append(Middleware(RequestIdMiddleware))
        if "metrics" in on:
            from exporter import HttpMetricsMiddleware, MetricsCollector
            collector = MetricsCollector(namespace="layers")
            middleware.append(Middleware(HttpMetricsMiddleware, collector=collector))
        if "limits" in on:
            from aiexpense.http.limits import BodyReadTimeout, uvicorn_options
            middleware.append(Middleware(BodyReadTimeout, seconds=30.0))
            options.update(uvicorn_options())
        if "logs" in on:
            from aiexpense import logs
            options["log_config"] = logs.config_dict("warning", "json")
        app = Starlette(routes=[Route("/items/{item_id}", item)], middleware=middleware)
    uvicorn.run(app, host="127.0.0.1", port=port, **options)
    """
)


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def _person(base: str) -> tuple[str, str]:
    """A person signed up with the admin token: (their path, their Authorization header)."""
    body = json.dumps({"external_id": f"layers-{time.time_ns()}"}).encode()
    request = urllib.request.Request(
        base + "/api/users",
        body,
        {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as r:
        user = json.load(r)
    return f"/api/users/{user['id']}", f"Authorization: Bearer {user['token']}"


class Layer:
    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-c", APP, str(self.port), name]
        self.process = subprocess.Popen(command, env=env)
        self.path, self.header = "/items/7", ""
        if name == "service_live":
            self.path = "/monitoring/live"
        _wait(
            self.base
            + ("/monitoring/ready" if name.startswith(("service", "auth")) else "/items/1")
        )
        if name == "service_cats":
            self.path = "/api/categories"
        if name == "auth":
            self.path, self.header = _person(self.base)

    def run(self, wrk: str, seconds: float, connections: int) -> float:
        """Server CPU microseconds per answered request over one wrk run."""
        command = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s"]
        if self.header:
            command += ["-H", self.header]
        before = _cpu(self.process.pid)
        out = subprocess.run(
            [*command, self.base + self.path], capture_output=True, text=True, check=True
        ).stdout
        used = _cpu(self.process.pid) - before
        if "Non-2xx" in out:
            raise RuntimeError(f"{self.name}: answers other than 2xx\n{out}")
        answered = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        return used / answered * 1e6

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aiexpense_bench.layers", description=__doc__)
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=8)
    args = p.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None or not args.database_url:
        raise SystemExit("needs wrk and --database-url (or $DATABASE_URL)")
    env = {**os.environ, "DATABASE_URL": args.database_url, "EXPORTER_ADMIN_TOKEN": ADMIN}
    layers = [Layer(name, env) for name in LAYERS]
    runs: dict[str, list[float]] = {name: [] for name in LAYERS}
    try:
        for layer in layers:
            layer.run(wrk, 1.0, args.connections)  # warm-up
        for n in range(args.rounds):
            for layer in layers if n % 2 == 0 else layers[::-1]:
                runs[layer.name].append(layer.run(wrk, args.seconds, args.connections))
    finally:
        for layer in layers:
            layer.stop()
    bare = statistics.median(runs["bare"])
    print(f"{'layer':14s} {'us/request':>10s} {'x bare':>7s}  rounds")
    for name in LAYERS:
        m = statistics.median(runs[name])
        shown = " ".join(f"{v:.0f}" for v in runs[name])
        print(f"{name:14s} {m:10.1f} {m / bare:7.2f}  {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
