"""``exporter serve`` (in the development venv, where every tool is installed) imports only
what it serves: no benchmark, notebook, test or browser tool ends up in the serving process,
neither at start-up nor after it has answered the API, a probe, the status page and a
scrape. (The image's own environment is checked apart, in a fresh venv.) The same dump
shows the process's garbage collector tuned (``aiexpense.serving``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from aiexpense.serving import YOUNG_THRESHOLD
from tests.support import free_port, wait_until

# Top-level packages a serving process has no use for: each is in this venv for a tool.
TOOLS = (
    "numpy", "scipy", "pyperf", "aiexpense_bench", "hdrh", "aiohttp", "selenium", "PIL",
    "pytest", "_pytest", "mypy", "starlette_exporter", "rich", "pygments", "IPython",
    "matplotlib", "pandas",
)  # fmt: skip
# Runs `exporter serve` as the command does, and writes sys.modules on SIGUSR2.
SERVE = textwrap.dedent(
    """
    import signal, sys
    def dump(*_):
        import gc
        with open(sys.argv[1] + ".tmp", "w") as f:
            f.write("\\n".join(sorted(sys.modules)))
            f.write("\\ngc-threshold-%d" % gc.get_threshold()[0])
        import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    signal.signal(signal.SIGUSR2, dump)
    from aiexpense.cli import main
    sys.exit(main(["serve"]))
    """
)


@pytest.mark.slow
def test_the_serving_process_imports_no_tools(database, tmp_path: Path) -> None:
    port, modules = free_port(), tmp_path / "modules.txt"
    env = {**os.environ, "DATABASE_URL": database.url, "EXPORTER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(modules)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _status(f"{base}/monitoring/ready") == 200, timeout=60)
        for path in (
            "/api/categories",
            "/monitoring/live",
            "/monitoring",
            "/monitoring/metrics",
            "/metrics",
        ):
            assert _status(base + path) == 200, path
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        proc.send_signal(signal.SIGUSR2)
        assert wait_until(modules.exists, timeout=10)
        dumped = modules.read_text().split()
        loaded = {name.partition(".")[0] for name in dumped}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "aiexpense" in loaded and "uvicorn" in loaded  # the dump is of the server
    assert f"gc-threshold-{YOUNG_THRESHOLD}" in dumped  # and it serves tuned (aiexpense.serving)
    assert sorted(loaded & set(TOOLS)) == []
    mapped = [tool for tool in TOOLS if f"/site-packages/{tool}/" in maps]
    assert mapped == []  # no tool's compiled extension either


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None
