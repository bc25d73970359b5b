"""Plain ``uvicorn --workers 2`` of a kit-only app with native histograms, scraped by a real
Prometheus 2.42 with ``--enable-feature=native-histograms`` (protobuf: one native series
merged from both workers) and by one without it (text/OpenMetrics: the classic buckets of
the same server, with exemplars from both workers)."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from exporter.native import lower_bound, upper_bound
from exporter.native.schema import bucket_key
from tests.support import SCRAPE, Prometheus, free_port, prometheus_daemon, stop, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
NAME = "shop_operation_duration_seconds"
N = 1500
# One traced request per classic bucket (so no exemplar replaces another): 0.2 ms, 0.4 ms ...
TRACED = [0.0002 * 2**i for i in range(12)]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "KIT_HISTOGRAM": "both"}
    log = (tmp_path / "uvicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory",
         "tests.kit.native.mp_native_app:create_app", "--workers", "2", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), timeout=60)
        yield url
    finally:
        stop(process)
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/metrics", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _prometheus(directory: Path, target: str, *flags: str):
    config = {
        "global": {"scrape_interval": f"{SCRAPE}s", "scrape_timeout": f"{SCRAPE}s"},
        "scrape_configs": [
            {"job_name": "shop", "static_configs": [{"targets": [urlsplit(target).netloc]}]}
        ],
    }
    return prometheus_daemon(config, directory, *flags)


def _value(result: list[dict]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def _count(server: Prometheus, expr: str) -> float:
    result = server.query(expr)
    return _value(result) if result else -1.0


def test_two_workers_native_histogram_and_exemplars_from_both(server: str, tmp_path: Path):
    with (
        _prometheus(tmp_path / "n", server, "--enable-feature=native-histograms") as n_url,
        _prometheus(tmp_path / "c", server, "--enable-feature=exemplar-storage") as c_url,
        httpx.Client(base_url=server, timeout=10) as client,
    ):
        native, classic = Prometheus(n_url), Prometheus(c_url)
        rng = random.Random(5)
        values = [rng.lognormvariate(-4, 1.0) for _ in range(N)]
        workers: dict[str, set[str]] = {}
        for v in values:  # a new connection each: the kernel spreads them over both workers
            answer = client.get("/work", params={"v": v}, headers={"Connection": "close"})
            workers.setdefault(answer.headers["x-worker"], set())
        assert len(workers) == 2
        traced: dict[str, str] = {}  # trace id -> the worker that recorded it
        for i, v in enumerate(TRACED):
            trace = f"{i + 1:032x}"
            answer = client.get(
                "/work", params={"v": v}, headers={
                    "Connection": "close", "traceparent": f"00-{trace}-{'1' * 16}-01"},
            )  # fmt: skip
            traced[trace] = answer.headers["x-worker"]
        assert set(traced.values()) == set(workers), "the traced requests reached one worker"
        total = N + len(TRACED)
        selector = f'{NAME}{{operation="work"}}'
        wait_until(lambda: _count(native, f"histogram_count({selector})") == total, timeout=30)
        wait_until(lambda: _count(classic, f'{NAME}_count{{operation="work"}}') == total, 30)

        everything = sorted([*values, *TRACED])
        true_p99 = everything[math.ceil(0.99 * total) - 1]
        estimate = _value(native.query(f"histogram_quantile(0.99, {selector})"))
        key = bucket_key(true_p99, 3)
        assert lower_bound(key, 3) <= estimate <= upper_bound(key, 3), (estimate, true_p99)
        assert native.query(f'{NAME}_bucket{{operation="work"}}') == []  # one native series
        assert len(classic.query(f'{NAME}_bucket{{operation="work"}}')) == 17  # 16 + +Inf

        def exemplar_traces() -> set[str]:
            found = classic.api(
                "query_exemplars", query=f'{NAME}_bucket{{operation="work"}}',
                start="0", end=f"{4e9:.0f}",
            )  # fmt: skip
            return {e["labels"]["trace_id"] for s in found for e in s["exemplars"]}

        wait_until(lambda: {traced[t] for t in exemplar_traces() & traced.keys()} == set(workers),
                   timeout=30)  # fmt: skip
