"""``exporter serve --workers N``: uvicorn's own supervisor, plus what the metrics need.

Before the first worker starts, the supervisor points prometheus-client's multiprocess mode
at an empty directory (``PROMETHEUS_MULTIPROC_DIR``, or a fresh temporary one) and starts the
embedded PostgreSQL once for all workers when ``DATABASE_URL`` is not set. uvicorn replaces a
worker that dies; when it does, the dead worker's metric files are compacted at once
(``exporter.multiprocess.mark_process_dead``; the workers would find it gone by themselves
within a second), so no total goes backwards and the scrape cost follows the live workers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator

import uvicorn
from uvicorn.supervisors import Multiprocess

from exporter.multiprocess import clear, mark_process_dead

from .app import DRAIN_SIGNAL
from .config import Settings

log = logging.getLogger(__name__)
APP = "aiexpense.serving:worker_app"


class Supervisor(Multiprocess):
    """uvicorn's multiprocess supervisor that compacts the files of every worker it buries,
    and gives the workers ``grace`` seconds of failing readiness before stopping them."""

    def __init__(self, config: uvicorn.Config, directory: str, grace: float = 0.0) -> None:
        super().__init__(config, sockets=[config.bind_socket()])
        self.directory = directory
        self._grace = grace
        self._draining = False

    def handle_term(self) -> None:
        if self._grace <= 0 or self._draining:
            super().handle_term()
            return
        self._draining = True
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, DRAIN_SIGNAL)
        log.info("shutting down in %.1fs: readiness now fails", self._grace)
        threading.Timer(self._grace, self.should_exit.set).start()

    def keep_subprocess_alive(self) -> None:
        with self._burying():
            super().keep_subprocess_alive()

    def restart_all(self) -> None:  # SIGHUP: every worker replaced in turn
        with self._burying():
            super().restart_all()

    @contextlib.contextmanager
    def _burying(self) -> Iterator[None]:
        before = {p.pid for p in self.processes}
        yield
        for pid in before - {p.pid for p in self.processes}:
            if pid is not None:
                log.info("worker %d is gone: compacting its metric files", pid)
                mark_process_dead(pid, self.directory)


def serve_workers(config: uvicorn.Config, settings: Settings) -> None:
    """Run ``config.workers`` workers of the app until a signal stops the supervisor."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="exporter-metrics-"
    )
    clear(directory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # the spawned workers inherit both
    with contextlib.ExitStack() as stack:
        if settings.database_url is None:
            from .store.embedded import EmbeddedPostgres

            embedded = EmbeddedPostgres(settings.data_dir)
            stack.callback(embedded.close)
            os.environ["DATABASE_URL"] = embedded.url
        Supervisor(config, directory, settings.shutdown_grace_seconds).run()
