"""What the benchmarks run against: a PostgreSQL and the service in processes of their own.

``bench_database()`` yields a server URL: ``$DATABASE_URL`` when set, else an embedded
PostgreSQL in a temporary folder, started once for the whole run. ``ServiceProcess``
runs ``exporter serve`` on a free loopback port against it, so the load generator and the
service never share a process (or a GIL).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 60.0
BENCH_SECRET = "bench-telegram-secret"
BENCH_ADMIN_TOKEN = "bench-admin-token"  # signs the load's people up (see load.ADMIN_TOKEN)
STOP_TIMEOUT = 20.0


@contextlib.contextmanager
def bench_database(url: str | None = None) -> Iterator[str]:
    """``url`` if given, else an embedded PostgreSQL of this run's own (removed after)."""
    if url:
        yield url
        return
    from aiexpense.store.embedded import EmbeddedPostgres

    folder = tempfile.mkdtemp(prefix="exporter-bench-")
    with warnings.catch_warnings():  # pgserver's platformdirs: "XDG_RUNTIME_DIR is not set"
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        server = EmbeddedPostgres(os.path.join(folder, "pgdata"))
    try:
        yield server.url
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceProcess:
    """``exporter serve`` in a child process; ``start()`` returns once it is ready."""

    def __init__(
        self,
        database_url: str,
        *,
        instrumentation: bool = True,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instrumentation = instrumentation
        self._env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "EXPORTER_INSTRUMENTATION": "on" if instrumentation else "off",
            "EXPORTER_WORKERS": str(workers),
            # fresh memory figures in /monitoring/health while the load runs
            "EXPORTER_HEALTH_INTERVAL_SECONDS": "1",
            # the webhook scenario signs its messages with it (see load.TELEGRAM_SECRET)
            "TELEGRAM_SECRET_TOKEN": os.environ.get("TELEGRAM_SECRET_TOKEN", BENCH_SECRET),
            # the load generator signs people up with it, then each acts with their own token
            "EXPORTER_ADMIN_TOKEN": os.environ.get("EXPORTER_ADMIN_TOKEN", BENCH_ADMIN_TOKEN),
            **(env or {}),
        }
        self._process: subprocess.Popen | None = None
        self.ready_seconds: float | None = None  # from the spawn to the first ready answer

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "aiexpense",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]

    def start(self, poll: float = 0.1) -> ServiceProcess:
        """Spawn the server; return once it answers ready (checked every ``poll`` s)."""
        self._spawn(self.command(), self._env, poll=poll)
        return self

    def _spawn(
        self, command: list[str], env: dict[str, str], cwd: Path | None = None, poll: float = 0.1
    ) -> None:
        """Start ``command`` and wait for its first ready answer (``ready_seconds``)."""
        started = time.monotonic()
        self._process = subprocess.Popen(command, env=env, cwd=cwd)
        deadline = started + START_TIMEOUT
        while not self.ready():
            if self._process.poll() is not None:
                raise RuntimeError(f"{command[2:4]} exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{command[2:4]} was not ready within {START_TIMEOUT:g}s")
            time.sleep(poll)
        self.ready_seconds = time.monotonic() - started

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/monitoring/ready", timeout=1) as r:
                return r.status == 200 and json.load(r)["status"] == "ready"
        except (OSError, urllib.error.URLError, ValueError):
            return False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
