"""Test helpers: real servers, no mocks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Database:
    server_url: str
    name: str

    @property
    def url(self) -> str:
        params = conninfo_to_dict(self.server_url)
        params["dbname"] = self.name
        return make_conninfo(**params)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app, *, port: int | None = None, lifespan: str = "on", **options) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a loopback port in a thread; yield its base URL.
    ``options``: more ``uvicorn.Config`` arguments."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan,
                            log_level="warning", **options)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn exited before it started")
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start within 30s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# The Debian package that brings each tool, for the message when one is missing.
DEBIAN_PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "docker-compose": "docker-compose",
}


def require_tool(name: str) -> str:
    """The path of a command-line tool; in CI a missing tool fails, elsewhere it skips."""
    path = shutil.which(name)
    if path:
        return path
    message = (
        f"{name} not found on PATH (Debian: apt-get install {DEBIAN_PACKAGES.get(name, name)})"
    )
    if IN_CI:
        pytest.fail(f"{message}; CI must install it: see .ci/run")
    pytest.skip(message)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; return that, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


async def async_wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


# -- processes: the real binaries (Prometheus, Alertmanager) on loopback ------------------


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def daemon(args: list[str], log: Path, ready_url: str, timeout: float = 20) -> Iterator[None]:
    """Run ``args`` until the block ends (terminate, then kill); wait for ``ready_url``."""
    name = Path(args[0]).name
    if shutil.which("setpriv"):
        # Finalizers do not run when pytest itself is killed (a CI timeout's SIGTERM): the
        # kernel then sends the daemon SIGTERM as its parent dies (util-linux's setpriv).
        args = ["setpriv", "--pdeathsig", "TERM", "--", *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{log_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"{name} not ready within {timeout}s:\n{log_tail(log)}")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def prometheus_daemon(config: dict, directory: Path, *flags: str) -> Iterator[str]:
    """Debian's Prometheus with ``config`` on a free loopback port, its files and data in
    ``directory``, extra command-line ``flags``; yields its URL once it is ready."""
    binary = require_tool("prometheus")
    directory.mkdir(exist_ok=True)
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    url = f"http://127.0.0.1:{free_port()}"
    args = [
        binary,
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--log.level=warn",
        *flags,
    ]
    with daemon(args, directory / "prometheus.log", f"{url}/-/ready"):
        yield url
