"""The documented gunicorn set-up (deploy/gunicorn/gunicorn.conf.py) counts exactly across
its uvicorn workers and compacts the files of a worker that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.test_workers import hit, scraped
from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn" / "gunicorn.conf.py"


def test_gunicorn_workers_count_exactly_and_a_dead_one_is_compacted(database, tmp_path):
    port, directory = free_port(), tmp_path / "metrics"
    directory.mkdir()
    env = {**os.environ, "DATABASE_URL": database.url, "PROMETHEUS_MULTIPROC_DIR": str(directory),
           "EXPORTER_PORT": str(port), "EXPORTER_WORKERS": "2"}  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("w")
    arbiter = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "aiexpense.app:create_app()"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), timeout=60)
        base = scraped(url)
        hit(url, 400)
        assert scraped(url) == base + 400
        victim = psutil.Process(arbiter.pid).children()[0]
        victim.send_signal(signal.SIGKILL)
        wait_until(lambda: not list(directory.glob(f"*_{victim.pid}.db")), timeout=30)
        assert list(directory.glob("counter_dead.db"))
        wait_until(lambda: len(psutil.Process(arbiter.pid).children()) == 2, timeout=30)
        assert scraped(url) >= base + 400  # the dead worker's count is kept
        hit(url, 100)
        assert scraped(url) == base + 500
    finally:
        arbiter.send_signal(signal.SIGTERM)
        arbiter.wait(timeout=60)
        log.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/categories", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
