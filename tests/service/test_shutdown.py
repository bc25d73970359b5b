"""Graceful shutdown of `exporter serve`, as Kubernetes drives it: SIGTERM, then the pod
keeps serving with readiness failing for the grace period, then stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.support import free_port, wait_until


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_sigterm_fails_readiness_first_then_exits_cleanly(database, tmp_path, workers):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database.url,
        "EXPORTER_PORT": str(port),
        "EXPORTER_SHUTDOWN_GRACE_SECONDS": "1.5",
        "EXPORTER_WORKERS": str(workers),
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiexpense", "serve"], env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _status(f"{base}/monitoring/ready") == 200, timeout=60)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        ready = wait_until(lambda: _status(f"{base}/monitoring/ready") == 503, timeout=1)
        assert ready
        for _ in range(4 * workers):  # every worker, whichever the kernel hands it to
            fresh = httpx.get(f"{base}/monitoring/ready", headers={"Connection": "close"})
            assert fresh.json() == {"status": "not_ready", "reason": "shutting down"}
        # Still serving during the grace period: liveness and the API answer.
        assert httpx.get(f"{base}/monitoring/live").status_code == 200
        assert httpx.get(f"{base}/api/categories").status_code == 200

        # uvicorn re-raises the signal once shut down, as a process killed by it would exit.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert time.monotonic() - signalled >= 1.4  # the grace period was honoured
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "shutting down in 1.5s" in text
    assert "Application shutdown complete" in text
    assert "Traceback" not in text


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None
