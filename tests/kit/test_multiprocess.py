"""The kit under prometheus-client's multiprocess mode: real processes sharing one directory.

Each worker is a fresh interpreter (as uvicorn spawns its workers), so prometheus-client
picks its mmap values from ``PROMETHEUS_MULTIPROC_DIR`` at import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WORKER = textwrap.dedent(
    """
    import sys
    from exporter import MetricsCollector

    durations = [float(x) for x in sys.argv[1].split(",")]
    errors = int(sys.argv[2])
    collector = MetricsCollector(namespace="shop", operations=["checkout"], publish_interval=60)
    for i, seconds in enumerate(durations):
        collector.record_operation("checkout", seconds, error=i < errors)
    collector.close()
    """
)

READER = textwrap.dedent(
    """
    import json, sys
    from exporter import MetricsCollector
    from prometheus_client import generate_latest

    collector = MetricsCollector(namespace="shop", operations=["checkout"], publish_interval=60)
    stats = collector.get("checkout")
    text = generate_latest(collector.exposition_registry).decode()
    print(json.dumps({"count": stats.count, "errors": stats.errors, "min": stats.min_seconds,
                      "max": stats.max_seconds, "sum": stats.total_seconds, "text": text}))
    collector.close()
    """
)


def run(code: str, directory: Path, *args: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def read(directory: Path) -> dict:
    import json

    return json.loads(run(READER, directory))


def sample(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{line_start} not in exposition")


def dead_pids(directory: Path) -> set[int]:
    return {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("*_*.db")
            if p.stem.rsplit("_", 1)[1].isdigit()}  # fmt: skip


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    path.mkdir()
    return path


def test_counts_min_max_and_series_add_up_across_processes(directory: Path) -> None:
    run(WORKER, directory, "0.002,0.004,0.008", "1")
    run(WORKER, directory, "0.0005,0.030", "0")
    run(WORKER, directory, "0.010", "1")
    got = read(directory)
    assert (got["count"], got["errors"]) == (6, 2)
    assert got["min"] == pytest.approx(0.0005) and got["max"] == pytest.approx(0.030)
    assert got["sum"] == pytest.approx(0.0545)
    text = got["text"]
    assert sample(text, 'shop_operations_total{operation="checkout"}') == 6
    assert sample(text, 'shop_operation_errors_total{operation="checkout"}') == 2
    assert sample(text, 'shop_operation_duration_seconds_count{operation="checkout"}') == 6
    # custom collectors are published and merged: the newest last-recorded, one build_info
    assert 'shop_operation_last_recorded_timestamp_seconds{operation="checkout"}' in text
    assert sample(text, 'shop_build_info{version="unknown"}') == 1.0


def test_dead_workers_are_compacted_and_nothing_goes_backwards(directory: Path) -> None:
    from exporter.multiprocess import mark_process_dead

    for n in range(8):
        run(WORKER, directory, ",".join(["0.001"] * (n + 1)), "0")
    before = read(directory)
    assert before["count"] == sum(range(1, 9))
    for pid in dead_pids(directory):  # the workers, and the readers: every process is gone
        mark_process_dead(pid, directory)
        assert read(directory)["count"] == before["count"]  # after every single compaction
    for pid in dead_pids(directory):  # the readers of the loop above
        mark_process_dead(pid, directory)
    names = sorted(p.name for p in directory.iterdir() if p.suffix in (".db", ".json"))
    assert names and all("_dead" in name for name in names), names  # one set, not sixteen
    after = read(directory)
    assert after["min"] == pytest.approx(0.001) and after["max"] == pytest.approx(0.001)
    assert sample(after["text"], 'shop_operations_total{operation="checkout"}') == 36


def test_a_reset_in_one_process_starts_every_view_again(directory: Path) -> None:
    run(WORKER, directory, "0.002,0.004", "0")
    run(
        "from exporter import MetricsCollector\n"
        "c = MetricsCollector(namespace='shop', operations=['checkout'], publish_interval=60)\n"
        "c.reset(); c.close()",
        directory,
    )
    assert read(directory)["count"] == 0
    run(WORKER, directory, "0.003", "0")
    got = read(directory)
    assert got["count"] == 1 and got["min"] == pytest.approx(0.003)
    # Prometheus counters stay monotonic through a reset
    assert sample(got["text"], 'shop_operations_total{operation="checkout"}') == 3


def test_published_families_merge_by_their_rules() -> None:
    from exporter.multiprocess import merge_families

    def doc(status: str, up: float, pool: float, ping: float) -> dict:
        states = ["healthy", "degraded", "unhealthy"]
        return {"families": [
            {"name": "x_health_status", "type": "stateset", "help": "h",
             "samples": [["x_health_status", {"x_health_status": s}, float(s == status)]
                         for s in states]},
            {"name": "x_db_up", "type": "gauge", "help": "h", "samples": [["x_db_up", {}, up]]},
            {"name": "x_pool", "type": "gauge", "help": "h", "samples": [["x_pool", {}, pool]]},
            {"name": "x_ping", "type": "gauge", "help": "h", "samples": [["x_ping", {}, ping]]},
        ]}  # fmt: skip

    rules = {"x_db_up": "min", "x_ping": "max"}
    merged = merge_families(
        [doc("healthy", 1, 3, 0.001), doc("degraded", 0, 4, 0.004), doc("healthy", 1, 2, 0.002)],
        rules,
    )
    values = {(s.name, tuple(s.labels.values())): s.value for f in merged for s in f.samples}
    assert values[("x_health_status", ("degraded",))] == 1.0  # the worst of any worker
    assert values[("x_health_status", ("healthy",))] == 0.0
    assert values[("x_db_up", ())] == 0  # down in one worker: down
    assert values[("x_pool", ())] == 9  # pools add up
    assert values[("x_ping", ())] == 0.004  # the slowest ping
