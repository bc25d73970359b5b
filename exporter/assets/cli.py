"""exporter-assets: write a service's operations assets from its spec, or check them.

    exporter-assets monitoring.toml                 # writes monitoring/ beside the spec
    exporter-assets monitoring.toml -o ops/         # or there
    exporter-assets monitoring.toml --check         # exit 1 if a file would change
    exporter-assets monitoring.toml --extension myservice.ops:EXTENSIONS

Exit status: 0 done (or current), 1 ``--check`` found files to regenerate, 2 a bad spec
(one line per mistake on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from .model import Extension
from .spec import SpecError, load_spec


def _extensions(paths: Sequence[str]) -> list[Extension]:
    """``module:attribute`` -> the Extension (or list of them) it names."""
    found: list[Extension] = []
    for path in paths:
        module, _, attribute = path.partition(":")
        value = getattr(importlib.import_module(module), attribute or "EXTENSIONS")
        found += [value] if isinstance(value, Extension) else list(value)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="exporter-assets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("spec", type=Path, help="the service's spec (TOML)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="where the files go (default: the spec's path without .toml)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if regenerating would change a file",
    )
    parser.add_argument(
        "--extension",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="a Python Extension (or a list of them) of the service's own",
    )
    args = parser.parse_args(argv)
    output = args.output or args.spec.with_suffix("")
    try:
        from .files import generate, stale, write
    except ImportError as exc:
        print(
            f"exporter-assets needs the assets extra: pip install "
            f"'aiexpense-exporter[assets]' ({exc})",
            file=sys.stderr,
        )
        return 2
    try:
        files = generate(load_spec(args.spec), _extensions(args.extension))
    except SpecError as exc:
        for problem in exc.problems:
            print(f"{args.spec}: {problem}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"exporter-assets: {exc}", file=sys.stderr)
        return 2
    if args.check:
        changed = stale(files, output)
        for name in changed:
            print(
                f"{output / name} is out of date: run exporter-assets {args.spec}", file=sys.stderr
            )
        return 1 if changed else 0
    for path in write(files, output):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
