"""The ``exporter`` command: ``exporter serve`` runs the app under uvicorn;
``exporter migrate`` applies the schema migrations to $DATABASE_URL and exits;
``exporter check-config`` prints the effective settings. (The benchmarks are a tool of
their own: ``aiexpense-bench``, from bench/.)

A bad setting, from a flag or the environment, prints one line per bad variable to stderr
and exits 2 (whatever the subcommand), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn

from . import logs
from .config import FLAGS, ConfigError, Settings, load

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

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
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


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: flags of ``args`` first, then the environment, then the defaults."""
    return load(os.environ, _flag_values(args))[0]


def _flag_values(args: argparse.Namespace) -> dict[str, str | None]:
    return {var: getattr(args, flag[2:].replace("-", "_"), None) for var, flag in FLAGS.items()}


def serve(args: argparse.Namespace) -> int:
    from .http.limits import uvicorn_options

    settings = settings_from(args)
    logs.configure(settings.log_level, settings.log_format)  # for what logs before uvicorn
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": logs.config_dict(settings.log_level, settings.log_format),
        "access_log": settings.access_log,
        "lifespan": "on",
        **uvicorn_options(header_timeout=settings.header_timeout_seconds),
    }
    if settings.workers > 1:
        from .workers import APP, serve_workers

        config = uvicorn.Config(APP, factory=True, workers=settings.workers, **options)
        serve_workers(config, settings)
        return 0
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # one worker, but multiprocess mode asked for
        from exporter.multiprocess import clear

        clear(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    from .app import create_app
    from .serving import tune_gc

    tune_gc()
    _Server(uvicorn.Config(create_app(settings), **options), settings.shutdown_grace_seconds).run()
    return 0


def migrate(args: argparse.Namespace) -> int:
    """Apply the migrations $DATABASE_URL lacks (a Kubernetes Job runs this before a rollout).

    Exits 0 when the schema is current, 1 when the database fails, 2 when DATABASE_URL is
    unset: a one-off job must not migrate a throwaway embedded database by mistake.
    """
    import psycopg
    from psycopg_pool import AsyncConnectionPool, PoolTimeout

    from .store.migrations import migrate as apply_migrations

    settings = settings_from(args)
    if settings.database_url is None:
        print(
            "exporter migrate: DATABASE_URL is not set (the database to migrate)", file=sys.stderr
        )
        return 2
    url = settings.database_url

    async def run() -> list[int]:
        pool = AsyncConnectionPool(url, min_size=1, max_size=1, open=False)
        async with pool:
            await pool.wait(timeout=args.timeout)
            return await apply_migrations(pool)

    try:
        applied = asyncio.run(run())
    except (psycopg.Error, PoolTimeout) as exc:
        # one line, never the URL (it holds the password)
        print(f"exporter migrate: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(f"applied migrations {applied}" if applied else "schema is current")
    return 0


def check_config(args: argparse.Namespace) -> int:
    """Print every setting, its value (secrets as ``****``) and where it came from."""
    _, entries = load(os.environ, _flag_values(args))
    width = max(len(e.name) for e in entries)
    values = max(len(e.value) for e in entries)
    print(f"{'variable':<{width}}  {'value':<{values}}  from")
    for e in entries:
        print(f"{e.name:<{width}}  {e.value:<{values}}  {e.source}")
    return 0


def _server_flags(p: argparse.ArgumentParser) -> None:
    # Strings, not ints: the settings check every value and name the flag in their message.
    p.add_argument("--host", help="listen address (default $EXPORTER_HOST or 127.0.0.1)")
    p.add_argument("--port", help="listen port (default $EXPORTER_PORT or 8080)")
    p.add_argument("--log-level", help="critical|error|warning|info|debug|trace (default info)")
    p.add_argument("--log-format", help="json|text|auto (default auto: json unless a terminal)")
    p.add_argument(
        "--access-log", action="store_const", const="on", help="log every request (one line each)"
    )
    p.add_argument("--workers", help="worker processes (default $EXPORTER_WORKERS or 1)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exporter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the service with its monitoring endpoints")
    _server_flags(p)
    p.set_defaults(func=serve)
    c = sub.add_parser("check-config", help="print the effective settings, or what is wrong")
    _server_flags(c)
    c.set_defaults(func=check_config)
    m = sub.add_parser("migrate", help="apply the schema migrations to $DATABASE_URL and exit")
    m.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the database (30)"
    )
    m.set_defaults(func=migrate)
    args = parser.parse_args(argv)
    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
