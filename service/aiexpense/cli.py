"""The ``exporter`` command: ``exporter serve`` runs the app under uvicorn;
``exporter bench`` runs the benchmarks, ``exporter bench compare OLD NEW`` compares two runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import uvicorn

from .config import Settings

log = logging.getLogger("exporter")


class _Server(uvicorn.Server):
    """uvicorn, plus a grace period between SIGTERM and closing the listener.

    On the first signal readiness goes 503 at once; the server keeps serving for
    ``shutdown_grace_seconds`` so load balancers notice before connections are refused.
    """

    def __init__(self, config: uvicorn.Config, grace: float) -> None:
        super().__init__(config)
        self._grace = grace
        self._stopping = False

    def handle_exit(self, sig: int, frame) -> None:
        app = self.config.app
        health = getattr(getattr(app, "state", None), "health", None)
        if self._stopping or self._grace <= 0 or health is None:
            super().handle_exit(sig, frame)
            return
        self._stopping = True
        health.begin_shutdown()
        log.info("shutting down in %.1fs: readiness now fails", self._grace)
        loop = asyncio.get_event_loop()
        loop.call_later(self._grace, super().handle_exit, sig, frame)


def serve(args: argparse.Namespace) -> int:
    from .app import create_app
    from .http_limits import uvicorn_options

    settings = Settings.from_env()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=args.log_level,
        access_log=args.access_log,
        lifespan="on",
        **uvicorn_options(header_timeout=settings.header_timeout_seconds),
    )
    server = _Server(config, settings.shutdown_grace_seconds)
    server.run()
    return 0


def bench(args: argparse.Namespace) -> int:
    from .bench import runner  # the bench tools (pyperf, aiohttp, scipy) are dev extras

    return runner.run(args)


def bench_compare(args: argparse.Namespace) -> int:
    from .bench import compare, results

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


def _bench_parsers(sub) -> None:
    from .bench.runner import add_arguments

    p = sub.add_parser("bench", help="benchmarks: micro (pyperf), memory, load, probes")
    add_arguments(p)
    p.set_defaults(func=bench)
    bench_sub = p.add_subparsers(dest="bench_command", metavar="compare")
    c = bench_sub.add_parser("compare", help="compare two result files, benchstat-style")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exporter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the service with its monitoring endpoints")
    p.add_argument("--host", help="listen address (default $EXPORTER_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default $EXPORTER_PORT or 8080)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=serve)
    _bench_parsers(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "warning").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
