"""The production image's environment, built the way the Dockerfile builds it, serving.

No container engine runs on these machines (docs/deployment.md), so this is the check that
counts: a fresh virtual environment gets exactly what the Dockerfile installs (the lock
with ``--require-hashes --no-deps``, then the two distributions from a copy of what the
Dockerfile copies, ``--no-deps --no-build-isolation``, then setuptools removed), and
``exporter serve`` from it must become ready, take a write and answer ``/metrics``, without
importing anything only the tools use. The production image once crashed at start-up
importing numpy through the benchmark parser, which nothing in the lock provides.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import Database, free_port, wait_until

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
# What only the tools use: the benchmark suite and its numerics, the test and dev tools.
TOOLS_ONLY = ("numpy", "scipy", "pyperf", "aiexpense_bench", "pytest", "pgserver")
ADMIN_TOKEN = "image-admin-token-0123456789"


def pip(venv: Path, *args: str) -> None:
    command = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/opt/venv as the Dockerfile's build stage leaves it."""
    root = tmp_path_factory.mktemp("image")
    venv, src = root / "venv", root / "src"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    pip(venv, "install", "--quiet", "--require-hashes", "--no-deps", "-r",
        str(REPO / "requirements.lock"))  # fmt: skip
    # COPY pyproject.toml README.md exporter service /src/ (nothing else of the repo)
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("exporter", "service"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    pip(venv, "install", "--quiet", "--no-deps", "--no-build-isolation", str(src),
        str(src / "service"))  # fmt: skip
    pip(venv, "uninstall", "--quiet", "--yes", "setuptools")
    return venv


def distributions(venv: Path) -> set[str]:
    script = "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))"  # noqa: E501
    out = subprocess.run([venv / "bin" / "python", "-c", script], capture_output=True,
                         text=True, check=True, cwd="/")  # fmt: skip
    return {line.strip().lower().replace("_", "-") for line in out.stdout.split()}


def test_the_image_holds_the_lock_and_the_two_distributions_only(image_venv: Path) -> None:
    found = distributions(image_venv)
    locked = {
        line.split("==")[0].strip().lower()
        for line in (REPO / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    assert found == (locked - {"setuptools"}) | {"aiexpense-exporter", "aiexpense-service"}


def test_the_app_and_its_command_import_nothing_only_tools_use(image_venv: Path) -> None:
    # What `exporter serve` imports before it serves: the command's module and the app.
    script = (
        "import json, sys; import aiexpense.cli, aiexpense.app, aiexpense.workers;"
        " aiexpense.app.create_app; print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([image_venv / "bin" / "python", "-c", script], capture_output=True,
                         text=True, cwd="/", env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = json.loads(out.stdout)
    assert not [m for m in loaded if m.split(".")[0] in TOOLS_ONLY], loaded


def test_exporter_serve_from_the_image_is_ready_writes_and_exposes_metrics(
    image_venv: Path, database: Database, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "PATH": f"{image_venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": database.url,
        "EXPORTER_ADMIN_TOKEN": ADMIN_TOKEN,
        "EXPORTER_HOST": "127.0.0.1",
        "EXPORTER_PORT": str(port),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    server = subprocess.Popen(["exporter", "serve"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            try:
                return httpx.get(f"{base}/monitoring/ready").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=60, interval=0.2)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.Client(base_url=base, timeout=10) as client:
            user = client.post("/api/users", json={"external_id": "img"}, headers=admin)
            assert user.status_code == 201, user.text
            wrote = client.post(
                "/api/expenses",
                json={"user_id": user.json()["id"], "amount": "12", "description": "lunch"},
                headers={"Authorization": f"Bearer {user.json()['token']}"},
            )
            assert wrote.status_code == 201, wrote.text
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            assert 'aiexpense_operations_total{operation="create_expense"}' in metrics.text
        # The serving process itself: no tool's compiled module is mapped into it (numpy
        # and scipy are extension modules; their files would show in the maps).
        maps = Path(f"/proc/{server.pid}/maps").read_text()
        assert not [t for t in TOOLS_ONLY if f"/{t}/" in maps], "a tool is loaded in the server"
        assert str(image_venv) in maps  # the maps are the server's, from the image's venv
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(10)
