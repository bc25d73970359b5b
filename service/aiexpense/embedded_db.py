"""An embedded PostgreSQL (the ``pgserver`` wheel) for ``make run`` and the tests, so a
fresh machine needs no database server. Its data lives in a folder and survives restarts."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL 16 server on a Unix socket, owned by this process."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        import pgserver  # imported late: only the embedded path needs it

        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        log.info("embedded PostgreSQL running in %s", self.data_dir)

    @property
    def url(self) -> str:
        return self._server.get_uri()

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
