"""The micro goals that are a ratio to a floor, timed again in interleaved rounds.

pyperf times one benchmark after the other (every worker process of a case, then every one
of its floor's), so whatever the shared machine does between the two lands in their ratio:
the status page at 256 operations read 0.93x, 1.40x and 1.46x its floor in three runs of the
same code, which counts 0.98x its floor's instructions. Here one process times a case and its
floor back to back, in rounds that alternate which goes first, so a drift hits both sides of
a round alike; the report judges the goal on the rounds' ratios (``report``), as the load
phases' paired rounds are judged, and pyperf's medians stay as the figures shown.

    python -m aiexpense_bench.interleaved -o rounds.json [--rounds 15] [--select REGEX]

The same time functions as pyperf's (``suite.all_cases``), the same environment (a database
at ``$DATABASE_URL`` for the service's cases); the multiprocess suite is not interleaved.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .report import MICRO_GOALS
from .suite import all_cases

TimeFunction = Callable[[int], float]  # pyperf's: loops -> seconds for all of them


def calibrate(func: TimeFunction, seconds: float) -> int:
    """The loops (a power of two) whose time is at least ``seconds``, as pyperf calibrates,
    after a first call (imports, caches) that is not counted."""
    func(1)
    loops = 1
    while func(loops) < seconds and loops < 2**30:
        loops *= 2
    return loops


def rounds(case: TimeFunction, floor: TimeFunction, n: int, seconds: float) -> dict[str, Any]:
    """``n`` rounds of the case and its floor back to back, the case first in even rounds:
    each side's seconds per loop, a round at a time."""
    loops = {"case": calibrate(case, seconds), "floor": calibrate(floor, seconds)}
    funcs = {"case": case, "floor": floor}
    per_loop: dict[str, list[float]] = {"case": [], "floor": []}
    for i in range(n):
        for side in ("case", "floor") if i % 2 == 0 else ("floor", "case"):
            per_loop[side].append(funcs[side](loops[side]) / loops[side])
    return {**per_loop, "loops": loops}


def paired_cases(select: str | None = None) -> Iterable[tuple[str, TimeFunction, TimeFunction]]:
    """(name, case, floor) for every case of the suite whose goal is a ratio to its floor."""
    cases = all_cases()

    def bound(name: str) -> TimeFunction:
        func, extra, _ = cases[name]
        return lambda loops: func(loops, *extra)  # type: ignore[operator]

    for name, (_, _, floor) in cases.items():
        if MICRO_GOALS.get(name, ("",))[0] != "ratio" or floor not in cases:
            continue
        if select is None or re.search(select, name):
            yield name, bound(name), bound(floor)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m aiexpense_bench.interleaved")
    p.add_argument("-o", "--output", required=True, help="where to write the rounds (JSON)")
    p.add_argument("--rounds", type=int, default=15, help="rounds per case (15)")
    p.add_argument("--seconds", type=float, default=0.1, help="each side of a round (0.1)")
    p.add_argument("--select", help="only the cases whose name matches REGEX")
    args = p.parse_args()
    found = {
        name: rounds(case, floor, args.rounds, args.seconds)
        for name, case, floor in paired_cases(args.select)
    }
    Path(args.output).write_text(json.dumps(found))


if __name__ == "__main__":
    main()
