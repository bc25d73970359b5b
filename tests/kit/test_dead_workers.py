"""The kit notices dead workers by itself: real processes (live, exited, zombie, a pid whose
mark names another process) beside real prometheus-client files, no supervisor hook."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from exporter.multiprocess import (
    ServerCollector,
    dead_processes,
    mark_alive,
    mark_process_dead,
    sweep,
)


def write_db(directory: Path, kind: str, pid: int, metric: str, value: float) -> None:
    """One sample in a file named and keyed the way prometheus-client names and keys them."""
    sample = metric if kind.startswith("gauge") else f"{metric}_total"
    into = MmapedDict(str(directory / f"{kind}_{pid}.db"))
    into.write_value(mmap_key(metric, sample, (), (), "h"), value, 0.0)
    into.close()


def publish(directory: Path, pid: int, rss: float, last: float) -> None:
    families = [
        {"name": "process_resident_memory_bytes", "type": "gauge", "help": "h",
         "samples": [["process_resident_memory_bytes", {}, rss]]},
        {"name": "x_last_recorded_timestamp_seconds", "type": "gauge", "help": "h",
         "samples": [["x_last_recorded_timestamp_seconds", {}, last]]},
    ]  # fmt: skip
    document = {"pid": pid, "at": 1.0, "families": families, "extremes": {},
                "kept": {"x_last_recorded_timestamp_seconds": "max"}}  # fmt: skip
    (directory / f"published_{pid}.json").write_text(json.dumps(document))


def worker(directory: Path, pid: int, *, count: float, rss: float, last: float) -> None:
    write_db(directory, "counter", pid, "x_requests", count)
    write_db(directory, "gauge_livesum", pid, "x_in_progress", 1.0)
    write_db(directory, "gauge_all", pid, "x_temperature", 20.0)  # stays, as in the client
    publish(directory, pid, rss, last)
    (directory / f"health_{pid}.json").write_text("{}")


@pytest.fixture
def processes() -> Iterator[dict[str, int]]:
    """A running process, one that exited, and a zombie (exited, not yet reaped)."""
    live = subprocess.Popen(["sleep", "600"])
    exited = subprocess.Popen(["true"])
    exited.wait()
    zombie = subprocess.Popen(["true"])
    os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # dead, still unreaped
    yield {"live": live.pid, "exited": exited.pid, "zombie": zombie.pid}
    live.kill()
    live.wait()
    zombie.wait()


def scrape(directory: Path, detect: bool = True) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    rules = {"x_last_recorded_timestamp_seconds": "max"}  # as the collector declares it
    registry.register(ServerCollector(str(directory), list, rules, sweep=detect))
    values = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_gone_and_reused_pids_are_found_and_live_ones_kept(tmp_path: Path, processes) -> None:
    for pid in processes.values():
        worker(tmp_path, pid, count=1, rss=100, last=5)
    mark_alive(tmp_path, processes["live"])
    worker(tmp_path, os.getpid(), count=1, rss=100, last=5)  # the scraping process itself
    assert dead_processes(tmp_path) == sorted([processes["exited"], processes["zombie"]])
    # The live pid's mark names another process: the pid was reused, its writer is gone.
    (mark,) = tmp_path.glob("*.alive")
    mark.rename(tmp_path / f"process_{processes['live']}_12345.alive")
    assert processes["live"] in dead_processes(tmp_path)
    # A new mark beside the old one (the new process has just started): it runs.
    mark_alive(tmp_path, processes["live"])
    (tmp_path / f"process_{processes['live']}_12345.alive").touch()
    assert processes["live"] not in dead_processes(tmp_path)


def test_a_scrape_folds_the_dead_and_counts_only_the_live_gauges(tmp_path: Path, processes) -> None:
    worker(tmp_path, processes["live"], count=3, rss=100, last=5)
    mark_alive(tmp_path, processes["live"])
    worker(tmp_path, processes["exited"], count=4, rss=1000, last=9)
    before = scrape(tmp_path, detect=False)
    assert before["x_requests_total"] == 7 and before["process_resident_memory_bytes"] == 1100
    after = scrape(tmp_path)
    assert after["x_requests_total"] == 7  # counters kept
    assert after["x_in_progress"] == 1  # livesum: the live worker's only
    assert after["process_resident_memory_bytes"] == 100  # the live worker's memory only
    assert after["x_last_recorded_timestamp_seconds"] == 9  # kept: it must not go backwards
    left = {p.name for p in tmp_path.iterdir() if f"_{processes['exited']}" in p.name}
    assert left == {f"gauge_all_{processes['exited']}.db"}  # as prometheus-client leaves it
    assert sweep(tmp_path) == []  # found once, not on every scrape
    mark_process_dead(processes["exited"], tmp_path)  # a hook too: nothing left to do
    assert scrape(tmp_path) == after
