"""A real PostgreSQL 16 for the tests, from the ``pgserver`` wheel (no server to install).

The service has its own embedded server (``aiexpense.store.embedded``); the tests keep this
one so that the kit's tests never import the service.
"""

from __future__ import annotations

from pathlib import Path


class Postgres:
    """A server on a Unix socket in ``data_dir``, which a test may stop and start."""

    def __init__(self, data_dir: Path) -> None:
        import pgserver

        self.data_dir = data_dir
        self._server = pgserver.get_server(data_dir, cleanup_mode="stop")

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
