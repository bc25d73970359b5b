"""The result file of ``aiexpense-bench``: one JSON document per run.

    {"format": "aiexpense-bench/1",
     "metadata": {...machine, git commit, python, cpu count, load average...},
     "options": {...how the run was made...},
     "benchmarks": {name: {"unit": "second", "values": [...], "median": ..., "floor": ...}},
     "memory": {name: {"peak_bytes": ..., "retained_bytes": ..., "retained_blocks": ...}},
     "load": {"signups": {...}, "mixed": {...}, "mixed_off": {...}, "paced": {...},
              "probes": {...}, "instrumentation": {...}},
     "goals": [...],
     "pyperf": {...pyperf's own suite document, as ``pyperf show`` reads it...}}

``benchmarks`` holds every value pyperf measured (seconds per operation) and, for the
load scenarios, the seconds per request of each whole second of the run: the samples
``aiexpense-bench compare`` tests for significance.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from statistics import median
from typing import Any

FORMAT = "aiexpense-bench/1"
RESULTS_DIR = Path("bench-results")
_PYPERF_KEYS = (
    "cpu_model_name",
    "cpu_freq",
    "cpu_config",
    "hostname",
    "platform",
    "aslr",
    "boot_time",
    "perf_version",
    "python_compiler",
    "timer",
)


def default_path(now: dt.datetime | None = None) -> Path:
    now = now or dt.datetime.now(dt.UTC)
    return RESULTS_DIR / f"{now:%Y%m%dT%H%M%SZ}.json"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_metadata() -> dict[str, Any]:
    """Where and on what the run happened (pyperf adds its own figures when it runs)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "python_version": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_start": load_average(),
        "command": " ".join(sys.argv),
    }


def pyperf_benchmarks(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(benchmarks, the machine metadata pyperf collected) from a pyperf result file."""
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(path))
    common = suite.get_metadata()
    benchmarks = {}
    for bench in suite.get_benchmarks():
        values = list(bench.get_values())
        benchmarks[bench.get_name()] = {
            "kind": "micro",
            "unit": bench.get_unit(),
            "values": values,
            "median": median(values),
            "runs": bench.get_nrun(),
            "loops": bench.get_metadata().get("loops"),
            "floor": bench.get_metadata().get("floor"),
        }
    return benchmarks, {f"pyperf_{k}": common[k] for k in _PYPERF_KEYS if k in common}


def load_benchmark(run: dict[str, Any]) -> dict[str, Any] | None:
    """A load run as a benchmark: seconds per request in each whole second (1 / req/s)."""
    values = [1.0 / n for n in run.get("per_second", []) if n > 0]
    if not values:
        return None
    return {
        "kind": "load",
        "unit": "second",
        "values": values,
        "median": median(values),
        "floor": None,
    }


def save(result: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    return path


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: not an `aiexpense-bench` result (format {FORMAT!r})")
    return data


def emit(document: Any, output: str | None, indent: int | None = None) -> None:
    """A measuring subprocess's JSON answer: into ``output``, or to stdout for its caller."""
    text = json.dumps(document, indent=indent)
    if output:
        Path(output).write_text(text)
    else:
        print(text)
