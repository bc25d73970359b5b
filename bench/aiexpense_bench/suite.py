"""The pyperf script behind ``aiexpense-bench``: every micro-benchmark, kit and service.

pyperf's Runner calibrates the loop count, then spawns worker processes that each time
one benchmark (``--fast`` and ``--rigorous`` work as usual). The service cases need a
migrated, seeded database at ``$DATABASE_URL``, passed on to the workers with
``--inherit-environ``; ``aiexpense-bench`` prepares it and runs this script::

    DATABASE_URL=postgresql://... python -m aiexpense_bench.suite \\
        --inherit-environ DATABASE_URL,EXPORTER_INSTRUMENTATION -o micro.json

``--select REGEX`` runs only the benchmarks whose name matches.
"""

from __future__ import annotations

import atexit
import re
from time import perf_counter

import pyperf

from . import http_cases, kit_cases, mp_cases, native_cases, service_cases

_ops: dict[str, service_cases.Op] = {}
_bench: service_cases.Bench | None = None


def _op(name: str) -> service_cases.Op:
    """The case's operation, built once per worker process (on the worker's own pool)."""
    global _bench
    if name not in _ops:
        factory, _, needs_db = service_cases.CASES[name]
        if needs_db and _bench is None:
            _bench = service_cases.open_bench(service_cases.settings_from_env())
            atexit.register(_bench.close)
        _ops[name] = factory(_bench if needs_db else None)
    return _ops[name]


async def _timed_async(op, loops: int) -> float:
    start = perf_counter()
    for _ in range(loops):
        await op()
    return perf_counter() - start


def time_service_case(loops: int, name: str) -> float:
    op = _op(name)
    if _bench is not None and service_cases.CASES[name][2]:
        return _bench.run(_timed_async(op, loops))
    start = perf_counter()
    for _ in range(loops):
        op()
    return perf_counter() - start


def all_cases() -> dict[str, tuple[object, tuple, str | None]]:
    """name -> (pyperf time function, its extra arguments, floor name or None)."""
    if mp_cases.CASES:  # under multiprocess mode (a suite run of its own): those cases only
        return {name: (func, (), floor) for name, (func, floor) in mp_cases.CASES.items()}
    cases: dict[str, tuple[object, tuple, str | None]] = {
        name: (func, (), floor)
        for name, (func, floor) in {
            **kit_cases.CASES,
            **native_cases.CASES,
            **http_cases.CASES,
        }.items()
    }
    for name, (_, floor, _) in service_cases.CASES.items():
        cases[name] = (time_service_case, (name,), floor)
    return cases


def _add_worker_args(cmd: list[str], args) -> None:
    if args.select:
        cmd.extend(("--select", args.select))


def main() -> None:
    runner = pyperf.Runner(
        add_cmdline_args=_add_worker_args, program_args=("-m", "aiexpense_bench.suite")
    )
    runner.argparser.add_argument("--select", help="only benchmarks whose name matches REGEX")
    args = runner.parse_args()
    pattern = re.compile(args.select) if args.select else None
    for name, (func, extra, floor) in all_cases().items():
        if pattern is None or pattern.search(name):
            metadata = {"floor": floor} if floor else None
            runner.bench_time_func(name, func, *extra, metadata=metadata)


if __name__ == "__main__":
    main()
