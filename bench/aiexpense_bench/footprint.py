"""The serving process's footprint and the trivial endpoint's overhead (issue 19).

footprint   restarts of a one-worker ``exporter serve``: from the old process's SIGTERM
            to the new one's first ready answer (and from its spawn), each new process's
            resident memory once idle
live        ``GET /monitoring/live`` of the service against a bare Starlette app's
            endpoint on the same server (uvicorn, the options ``exporter serve`` gives
            it), wrk, interleaved rounds
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from . import wrk
from .mix import interleave, serving_rss
from .server import START_TIMEOUT, STOP_TIMEOUT, ServiceProcess, free_port

IDLE_SETTLE = 1.0  # seconds after ready before the idle memory is read
READY_POLL = 0.01
LIVE_CONNECTIONS = 16


def restarts(database_url: str, count: int) -> dict[str, Any]:
    """``count`` restarts, each: SIGTERM the running process, wait for it to exit, spawn
    the next, wait for its ready answer."""
    stop_to_ready, spawn_to_ready, idle = [], [], []
    current = ServiceProcess(database_url).start()
    try:
        for _ in range(count):
            started = time.monotonic()
            current.stop()  # SIGTERM, then waits for the exit
            current = ServiceProcess(database_url).start(poll=READY_POLL)
            stop_to_ready.append(time.monotonic() - started)
            spawn_to_ready.append(current.ready_seconds)
            time.sleep(IDLE_SETTLE)
            idle += serving_rss(current.pid or 0)
    finally:
        current.stop()
    return {
        "stop_to_ready_seconds": stop_to_ready,
        "spawn_to_ready_seconds": spawn_to_ready,
        "idle_rss_bytes": idle,
    }


BARE = textwrap.dedent(
    """
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from aiexpense import logs
    from aiexpense.http.limits import uvicorn_options

    async def live(request):
        return JSONResponse({"status": "alive"})

    app = Starlette(routes=[Route("/monitoring/live", live)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                log_config=logs.config_dict("warning", "json"), access_log=False,
                lifespan="on", **uvicorn_options())
    """
)  # the options of ``exporter serve`` (aiexpense.cli.serve), defaults for the rest


class BareApp:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-c", BARE, str(self.port)])
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.url + "/monitoring/live"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the bare Starlette app did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(STOP_TIMEOUT)


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def live(
    wrk_path: str, database_url: str, tmp: Path, *, rounds: int, seconds: float, warmup: float
) -> dict[str, Any]:
    script = tmp / "live.lua"
    script.write_text(wrk.with_done(""))
    bare = BareApp()
    try:
        with ServiceProcess(database_url) as service:
            urls = {"service": service.url, "bare": bare.url}
            pids = {"service": service.pid, "bare": bare.process.pid}
            for url in urls.values():
                wrk.run(wrk_path, url + "/monitoring/live", script, connections=16, seconds=warmup)
            runs = interleave(
                rounds,
                list(urls),
                lambda side: wrk.run(
                    wrk_path, urls[side] + "/monitoring/live", script,
                    connections=LIVE_CONNECTIONS, seconds=seconds, server_pid=pids[side],
                ),
            )  # fmt: skip
    finally:
        bare.stop()
    return {"connections": LIVE_CONNECTIONS, "runs": runs}
