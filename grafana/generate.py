"""Write the dashboards' JSON under grafana/dashboards/ (or check that it is current).

python -m grafana.generate            # (re)write grafana/dashboards/*.json
python -m grafana.generate --check    # exit 1 if a committed file differs or is missing
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana import overview

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"

# file name -> builder. Grafana's file provisioner loads every *.json in the directory.
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "aiexpense-overview.json": overview.build,
}


def render(dashboard: Dashboard) -> str:
    """Stable JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(dashboard, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def stale_files(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Names of the dashboards whose file is missing or differs from a fresh render."""
    stale = []
    for name, text in rendered().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            stale.append(name)
    return stale


def write(directory: Path = DASHBOARDS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana.generate", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed JSON is not what the code generates",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DASHBOARDS_DIR,
        help=f"where the JSON goes (default: {DASHBOARDS_DIR})",
    )
    args = parser.parse_args(argv)

    if args.check:
        stale = stale_files(args.output_dir)
        for name in stale:
            print(
                f"{args.output_dir / name} is out of date: run `make dashboards`", file=sys.stderr
            )
        return 1 if stale else 0

    for path in write(args.output_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
