"""An embedded PostgreSQL (the ``pgserver`` wheel) for ``make run`` and the tests, so a
fresh machine needs no database server. Its data lives in a folder and survives restarts."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import psutil

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL 16 server on a Unix socket, owned by this process."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        import pgserver  # imported late: only the embedded path needs it

        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        prune_dead_handles(self.data_dir)
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        log.info("embedded PostgreSQL running in %s", self.data_dir)

    @property
    def url(self) -> str:
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are disconnected)."""
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user)

    def start(self) -> None:
        """Start it again after ``stop`` (same data, same socket)."""
        with self._server._lock:
            self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server.cleanup()


def prune_dead_handles(data_dir: Path) -> list[int]:
    """Forget the processes of ``data_dir``'s handle file that are gone; return their pids.

    pgserver lists the processes using a server in ``<data>/.handle_pids.json`` and stops
    PostgreSQL when the last of them lets go. A process killed with SIGKILL never removes
    its pid, so without this no later clean stop would stop the server. A pid counts as gone
    when no process has it, or when the process that has it started after the file was last
    written (the pid was reused).
    """
    from pgserver.postgres_server import PostgresServer

    path = data_dir / ".handle_pids.json"
    with PostgresServer._lock:  # the lock pgserver takes around the same file
        try:
            pids = json.loads(path.read_text())
            written = path.stat().st_mtime
        except (OSError, ValueError):
            return []
        dead = [pid for pid in pids if not _alive_since(pid, written)]
        if dead:
            path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
            log.info("embedded PostgreSQL: forgot handles of exited processes %s", dead)
    return dead


def _alive_since(pid: int, moment: float) -> bool:
    try:
        return bool(psutil.Process(pid).create_time() <= moment + 1.0)
    except psutil.Error:
        return False
