"""The embedded PostgreSQL is reclaimed after the server was killed: a real `exporter serve`
in a subprocess, SIGKILLed, started again and stopped cleanly leaves no postmaster behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow


def postmasters(data_dir: Path) -> list[psutil.Process]:
    """Running PostgreSQL servers whose data directory is ``data_dir``."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "postgres" in (proc.info["name"] or "") and str(data_dir) in " ".join(cmdline):
            found.append(proc)
    return found


def serve(data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"EXPORTER_DATA_DIR": str(data_dir), "EXPORTER_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiexpense", "serve", "--log-level", "warning"], env=env
    )

    def ready() -> bool:
        assert proc.poll() is None, "exporter serve exited"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/monitoring/ready").status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, timeout=60, interval=0.2)
    return proc


def test_a_clean_stop_after_a_crash_stops_the_embedded_postgres(tmp_path):
    data_dir = (tmp_path / "data").resolve()
    port = free_port()
    crashed = serve(data_dir, port)
    assert postmasters(data_dir)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(10)
    assert postmasters(data_dir), "SIGKILL of the server leaves PostgreSQL running"

    again = serve(data_dir, port)
    again.send_signal(signal.SIGTERM)
    assert again.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    wait_until(lambda: not postmasters(data_dir), timeout=15)
