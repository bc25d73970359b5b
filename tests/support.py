"""Test helpers: real servers, no mocks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
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
def running(app, *, port: int | None = None, lifespan: str = "on") -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a loopback port in a thread; yield its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan,
                            log_level="warning")  # fmt: skip
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
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
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
