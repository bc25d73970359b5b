"""``pip install aiexpense-exporter`` alone: a small install that imports, mounts and serves
with none of the service's dependencies present (issue 10's install goals)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
MAX_DISTRIBUTIONS = 8
MAX_MEGABYTES = 15.0

APP = textwrap.dedent(
    """
    import contextlib, sys
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from exporter import HealthChecker, MetricsCollector, MonitoringHandler

    collector = MetricsCollector(namespace="shop")
    health = HealthChecker(None, collector)
    handler = MonitoringHandler(health, collector)

    async def order(request):
        with collector.time("create_order"):
            return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await health.start()
        yield
        await health.stop()

    app = Starlette(routes=[Route("/order", order), *handler.routes()], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def pip(venv: Path, *args: str) -> None:
    python = venv / "bin" / "python"
    command = [sys.executable, "-m", "pip", "--python", str(python), "--quiet", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=600)


def installed(venv: Path) -> dict[str, int]:
    """Every distribution in the venv and the bytes of its files."""
    script = (
        "import json, importlib.metadata as m\n"
        "print(json.dumps({d.metadata['Name']: sum(f.locate().stat().st_size for f in d.files"
        " if f.locate().exists()) for d in m.distributions()}))"
    )
    out = subprocess.run([venv / "bin" / "python", "-c", script], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return json.loads(out.stdout)


def test_the_kit_installs_small_and_serves_without_the_service(tmp_path: Path) -> None:
    venv = tmp_path / "kit"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    pip(venv, "install", str(REPO))
    found = installed(venv)
    assert "aiexpense-exporter" in found
    assert len(found) <= MAX_DISTRIBUTIONS, sorted(found)
    assert sum(found.values()) / 1e6 <= MAX_MEGABYTES, found
    for absent in ("aiexpense", "psycopg", "uvicorn", "pgserver", "httpx", "cachetools"):
        probe = subprocess.run([venv / "bin" / "python", "-c", f"import {absent}"],
                               capture_output=True)  # fmt: skip
        assert probe.returncode != 0, f"{absent} is importable from the kit's install"

    pip(venv, "install", "uvicorn")  # the server is the user's choice, not the kit's
    port = free_port()
    server = subprocess.Popen([venv / "bin" / "python", "-c", APP, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _get(f"{base}/monitoring/ready")[0] == 200, timeout=30)
        assert _get(f"{base}/order")[0] == 200
        status, body = _get(f"{base}/metrics")
        assert status == 200
        assert 'shop_operations_total{operation="create_order"} 1.0' in body
        assert json.loads(_get(f"{base}/monitoring/metrics")[1])["create_order"]["count"] == 1
    finally:
        server.terminate()
        server.wait(timeout=30)


def _get(url: str) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return None, ""
