"""Memory per operation (Go's ``-benchmem``), through tracemalloc, apart from the timing runs.

Python keeps no running total of allocations, so "bytes allocated per op" is measured as
the closest thing tracemalloc can see:

* ``peak_bytes``: how far the traced memory rose above its level at the start of the op,
  at the op's highest point (its working memory: rows, records, buffers), averaged;
* ``retained_bytes`` and ``retained_blocks``: what was still allocated after all the ops
  and not before, divided by the number of ops (a leak or a growing cache shows here).

Run by ``aiexpense-bench`` in a process of its own (tracemalloc slows everything down, so
timing runs never have it on)::

    DATABASE_URL=... python -m aiexpense_bench.memory --seconds 1 -o memory.json
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import tracemalloc
from collections.abc import Callable
from time import perf_counter

from . import kit_cases, service_cases

MIN_OPS = 20
MAX_OPS = 2000
WARMUP_OPS = 20


class _Tally:
    """Per-op peaks plus the snapshot the retained figures are measured from."""

    def __init__(self) -> None:
        tracemalloc.start()
        self.before = _snapshot()
        self.start_bytes = tracemalloc.get_traced_memory()[0]  # after the collection
        self.peaks = 0
        self.ops = 0
        self._level = 0

    def begin(self) -> None:
        self._level = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def end(self) -> None:
        self.peaks += tracemalloc.get_traced_memory()[1] - self._level
        self.ops += 1

    def result(self) -> dict[str, float]:
        after = _snapshot()
        end_bytes = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        blocks = sum(stat.count_diff for stat in after.compare_to(self.before, "filename"))
        return {
            "ops": self.ops,
            "peak_bytes": round(self.peaks / self.ops, 1),
            "retained_bytes": round((end_bytes - self.start_bytes) / self.ops, 1),
            "retained_blocks": round(blocks / self.ops, 3),
        }


def _snapshot() -> tracemalloc.Snapshot:
    gc.collect()  # cyclic garbage not yet collected is not "retained"
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )


def measure_sync(op: Callable[[], object], seconds: float) -> dict[str, float]:
    for _ in range(WARMUP_OPS):
        op()
    tally = _Tally()
    deadline = perf_counter() + seconds
    while tally.ops < MAX_OPS and (tally.ops < MIN_OPS or perf_counter() < deadline):
        tally.begin()
        op()
        tally.end()
    return tally.result()


async def measure_async(op, seconds: float) -> dict[str, float]:
    for _ in range(WARMUP_OPS):
        await op()
    tally = _Tally()
    deadline = perf_counter() + seconds
    while tally.ops < MAX_OPS and (tally.ops < MIN_OPS or perf_counter() < deadline):
        tally.begin()
        await op()
        tally.end()
    return tally.result()


def run_all(seconds: float, select: str | None = None) -> dict[str, dict[str, float]]:
    pattern = re.compile(select) if select else None

    def chosen(name: str) -> bool:
        return pattern is None or pattern.search(name) is not None

    results: dict[str, dict[str, float]] = {}
    for name, factory in kit_cases.MEMORY_OPS.items():
        if chosen(name):
            results[name] = measure_sync(factory(), seconds)
            _progress(name, results[name])
    bench = None
    for name, (factory, _, needs_db) in service_cases.CASES.items():
        if not chosen(name):
            continue
        if not needs_db:
            results[name] = measure_sync(factory(None), seconds)
        else:
            bench = bench or service_cases.open_bench(service_cases.settings_from_env())
            results[name] = bench.run(measure_async(factory(bench), seconds))
        _progress(name, results[name])
    if bench is not None:
        bench.close()
    return results


def _progress(name: str, result: dict[str, float]) -> None:
    print(
        f"{name}: peak {result['peak_bytes']:,.0f} B/op, retained"
        f" {result['retained_bytes']:,.0f} B/op, {result['retained_blocks']:g} blocks/op"
        f" ({result['ops']} ops)",
        file=sys.stderr,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aiexpense_bench.memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="time per case (default 1)")
    parser.add_argument("--select", help="only cases whose name matches REGEX")
    parser.add_argument("-o", "--output", help="write the results here as JSON")
    args = parser.parse_args(argv)
    results = run_all(args.seconds, args.select)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
