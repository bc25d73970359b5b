"""One wrk run (Debian's wrk, in C) and what it measured, read from its Lua ``done()``.

wrk keeps every latency at microsecond resolution but its Lua API gives only
``latency:percentile(p)``, ``min``, ``max``, ``mean``: a run reports its percentiles
(``PERCENTILES``), counts and errors as one JSON line. The goals judge whole rounds (one
p99 per round), never requests as if they were independent.

Alongside, the CPU each party used over the run: wrk itself (``wait4``), the server
(its process and children), the PostgreSQL server (its postmaster and backends) and the
machine as a whole (``/proc/stat``), so a ratio that does not scale can say where the cores
went.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
MARK = "@@wrk-result "
# One JSON line from wrk's Lua; percentiles at PERCENTILES, in microseconds.
DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({@PERCENTILES@}) do
    p[#p + 1] = string.format('"%g": %d', q, latency:percentile(q))
  end
  io.write(string.format(
    '@MARK@{"requests": %d, "micros": %d, "non_2xx": %d, "socket_errors": %d, '
    .. '"mean_us": %f, "max_us": %d, "percentiles_us": {%s}}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency.mean, latency.max, table.concat(p, ", ")))
end
""".replace("@PERCENTILES@", ", ".join(f"{q:g}" for q in PERCENTILES)).replace("@MARK@", MARK)


def with_done(script: str) -> str:
    """``script`` (a wrk Lua script without a ``done``) plus the one that reports."""
    return script + "\n" + DONE


@dataclass(frozen=True)
class Cpu:
    """Seconds of CPU (user + system) of each party, and the machine's busy seconds."""

    server: float
    database: float | None
    wrk: float
    machine: float
    elapsed: float

    def as_dict(self) -> dict[str, float | None]:
        return {k: None if v is None else round(v, 3) for k, v in self.__dict__.items()}


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and all its children still running."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass  # ended between the listing and the reading
    return total


def machine_busy() -> float:
    """Seconds all cores spent not idle since boot (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run(
    wrk: str,
    url: str,
    script: Path,
    *,
    connections: int,
    seconds: float,
    threads: int = 1,
    server_pid: int | None = None,
    database_pid: int | None = None,
) -> dict:
    """One measured wrk run: its report (requests, rps, percentiles in ms, errors) and
    ``cpu``. ``script`` must end with ``DONE`` (see :func:`with_done`)."""
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url]
    readings: list[Callable[[], float]] = [
        lambda: tree_cpu(server_pid) if server_pid else 0.0,
        lambda: tree_cpu(database_pid) if database_pid else 0.0,
        machine_busy,
        time.monotonic,
    ]
    before, reaped = [read() for read in readings], _reaped_cpu()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate()
    # wrk's own CPU: the only child reaped in between (the runner waits for nothing else)
    wrk_cpu = _reaped_cpu() - reaped
    after = [read() for read in readings]
    if process.returncode != 0 or MARK not in out:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.strip() or out.strip()}")
    report = json.loads(out.split(MARK, 1)[1].splitlines()[0])
    diff = [b - a for a, b in zip(before, after, strict=True)]
    cpu = Cpu(diff[0], diff[1] if database_pid else None, wrk_cpu, diff[2], diff[3])
    return summarize(report, cpu)


def _reaped_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summarize(report: dict, cpu: Cpu | None = None) -> dict:
    """wrk's numbers in the bench's units: rps, latencies in ms, errors, CPU."""
    seconds = report["micros"] / 1e6
    return {
        "requests": int(report["requests"]),
        "seconds": round(seconds, 3),
        "rps": round(report["requests"] / seconds, 1) if seconds else 0.0,
        "errors": int(report["non_2xx"]) + int(report["socket_errors"]),
        "mean_ms": round(report["mean_us"] / 1000, 3),
        "max_ms": round(report["max_us"] / 1000, 3),
        "percentiles_ms": {k: round(v / 1000, 3) for k, v in report["percentiles_us"].items()},
        "cpu": None if cpu is None else cpu.as_dict(),
    }


def database_pid(url: str) -> int | None:
    """The postmaster of the PostgreSQL at ``url`` when it runs on this machine: the parent
    of a backend (its children are every backend of that server, and nobody else's)."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:  # the backend lives as long
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            return psutil.Process(int(row[0])).ppid() if row else None
    except (psycopg.Error, psutil.Error):
        return None
