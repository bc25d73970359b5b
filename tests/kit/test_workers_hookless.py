"""Plain ``uvicorn --workers 2`` (no supervisor hook) serving a kit-only app: every worker
gives the server's health answer, and a worker killed with SIGKILL stops counting.

Every request goes on a new connection, so the kernel hands them to either worker; each
check of agreement gathers answers until both workers have answered.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import free_port, stop, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROBES = 24  # answers per endpoint, from both workers
OVERALL = re.compile(r'id="overall" class="overall"><span class="badge st-(\w+)"')


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    directory: Path
    flags: Path
    client: httpx.Client  # each request on a new connection all the same (Connection: close)

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.client.get(path, headers={"Connection": "close", **headers})

    def workers(self) -> list[int]:
        """The supervisor's live workers (not multiprocessing's resource tracker)."""
        found = []
        for child in psutil.Process(self.process.pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(
                    child.cmdline()
                ):
                    found.append(child.pid)
            except psutil.NoSuchProcess:
                continue
        return sorted(found)

    def reporting(self) -> set[int]:
        """The workers whose health report is in the directory."""
        return {int(p.stem.split("_")[1]) for p in self.directory.glob("health_*.json")}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    directory, flags = tmp_path / "metrics", tmp_path / "flags"
    directory.mkdir()  # empty, as prometheus-client's multiprocess mode requires
    flags.mkdir()
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "KIT_APP_FLAGS": str(flags)}
    log = (tmp_path / "uvicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "tests.kit.mp_app:create_app",
         "--workers", "2", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    server = Server(url, process, directory, flags, httpx.Client(base_url=url, timeout=10))
    try:
        wait_until(lambda: len(server.workers()) == 2, timeout=60)
        wait_until(lambda: server.reporting() == set(server.workers()), timeout=60)
        yield server
    finally:
        stop(process)
        server.client.close()
        log.close()


def answers(server: Server, path: str, read, **headers: str) -> set:
    """What ``read(response)`` gives over ``PROBES`` requests that reached every worker
    (``Unreached`` if some worker answered none of ``PROBES * 10``: it may be starting)."""
    seen: set = set()
    workers: set[int] = set()
    expected = set(server.workers())
    for n in range(PROBES * 10):
        response = server.get(path, **headers)
        seen.add(read(response))
        workers.add(int(response.headers["x-worker"]))
        if n + 1 >= PROBES and workers >= expected:
            return seen
    raise Unreached(f"{path}: {n + 1} requests reached {workers}, not all of {expected}")


class Unreached(AssertionError):
    pass


def sample(text: str, series: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def verdicts(server: Server) -> dict[str, set]:
    """Every endpoint's answers, gathered from both workers."""
    page_headers = {"Accept": "text/html"}
    return {
        "ready": answers(server, "/monitoring/ready", lambda r: r.status_code),
        "health": answers(
            server, "/monitoring/health", lambda r: (r.status_code, r.json()["status"])
        ),
        "readiness": answers(server, "/monitoring/health/readiness", lambda r: r.status_code),
        "page": answers(
            server, "/monitoring/", lambda r: OVERALL.search(r.text).group(1), **page_headers
        ),
        "status": answers(
            server,
            "/metrics",
            lambda r: (
                sample(r.text, 'shop_health_status{shop_health_status="unhealthy"}'),
                sample(r.text, 'shop_health_check_up{check="flaky"}'),
            ),
        ),
    }


UNHEALTHY = {
    "ready": {503},
    "health": {(503, "unhealthy")},
    "readiness": {503},
    "page": {"unhealthy"},
    "status": {(1.0, 0.0)},
}
HEALTHY = {
    "ready": {200},
    "health": {(200, "healthy")},
    "readiness": {200},
    "page": {"healthy"},
    "status": {(0.0, 1.0)},
}


def agree_on(server: Server, expected: dict[str, set]) -> bool:
    try:
        return verdicts(server) == expected
    except Unreached:  # a worker still starting: ask again
        return False


def test_with_one_worker_failing_every_probe_gets_the_same_answer(server: Server) -> None:
    assert verdicts(server) == HEALTHY
    victim = server.workers()[0]
    (server.flags / f"fail_{victim}").touch()
    # Within a sampler round (plus a reader's quarter second) every worker says so.
    wait_until(lambda: agree_on(server, UNHEALTHY), timeout=30, interval=0.2)
    for _ in range(2):  # and keeps saying so, whichever worker answers
        assert verdicts(server) == UNHEALTHY
    reasons = answers(server, "/monitoring/ready", lambda r: r.json()["reason"])
    assert reasons == {f"unhealthy: flaky: told to fail (worker {victim}; 1 of 2 workers)"}
    (server.flags / f"fail_{victim}").unlink()
    wait_until(lambda: agree_on(server, HEALTHY), timeout=30, interval=0.2)


def live_memory(server: Server) -> float:
    """The resident memory of the live workers that have published their figures."""
    total = 0.0
    for pid in server.workers():
        if (server.directory / f"published_{pid}.json").exists():
            total += psutil.Process(pid).memory_info().rss
    return total


def memory_is_the_live_workers(server: Server) -> bool:
    scraped = sample(server.get("/metrics").text, "process_resident_memory_bytes")
    expected = live_memory(server)
    return scraped is not None and abs(scraped - expected) <= 0.2 * expected


def test_a_killed_failing_worker_stops_counting_without_any_hook(server: Server) -> None:
    victim = server.workers()[0]
    (server.flags / f"fail_{victim}").touch()
    wait_until(lambda: agree_on(server, UNHEALTHY), timeout=30, interval=0.2)
    os.kill(victim, signal.SIGKILL)
    # uvicorn starts a replacement; nobody tells the kit the victim died.
    wait_until(lambda: len(server.workers()) == 2 and victim not in server.workers(), 60)
    wait_until(lambda: agree_on(server, HEALTHY), timeout=30, interval=0.2)
    wait_until(lambda: memory_is_the_live_workers(server), timeout=30, interval=0.2)
    for _ in range(2):
        assert verdicts(server) == HEALTHY
    # The replacement tells the server's uptime, not its own.
    starts = answers(
        server, "/monitoring/system", lambda r: time.time() - r.json()["uptime_seconds"]
    )
    assert max(starts) - min(starts) < 1.0, starts
    # Its files were compacted by the workers themselves.
    assert not list(server.directory.glob(f"*_{victim}.*"))
    assert (server.directory / "published_dead.json").exists()
