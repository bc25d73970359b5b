"""``aiexpense-bench``: the benchmark suite's command line (``aiexpense-bench --help``).

``aiexpense-bench`` runs every phase (see ``runner``); ``aiexpense-bench compare OLD NEW``
compares two result files, benchstat-style.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import compare, results, runner
from .runner import add_arguments


def bench(args: argparse.Namespace) -> int:
    return runner.run(args)


def bench_compare(args: argparse.Namespace) -> int:
    old, new = results.load(args.old), results.load(args.new)
    changes = compare.compare(old, new)
    print(compare.table(changes, args.alpha))
    gone, added = compare.only_in(old, new)
    for label, names in (("only in old", gone), ("only in new", added)):
        if names:
            print(f"{label}: {', '.join(names)}")
    if args.fail_on_regression is None:
        return 0
    worse = compare.regressions(changes, args.fail_on_regression, args.alpha)
    for c in worse:
        print(f"regression: {c.name} {c.percent:+.1f}% (p={c.p_value:.3f})", file=sys.stderr)
    return 1 if worse else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aiexpense-bench", description="benchmarks: micro (pyperf), memory, load, probes"
    )
    add_arguments(p)
    p.set_defaults(func=bench)
    sub = p.add_subparsers(dest="bench_command", metavar="compare")
    c = sub.add_parser("compare", help="compare two result files, benchstat-style")
    c.add_argument("old", help="the baseline result file")
    c.add_argument("new", help="the result file to judge")
    c.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    c.add_argument(
        "--fail-on-regression",
        type=float,
        metavar="PCT",
        help="exit 1 when a significant slowdown exceeds PCT percent",
    )
    c.set_defaults(func=bench_compare)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
