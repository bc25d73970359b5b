"""gunicorn with uvicorn workers, counting exactly across them.

    PROMETHEUS_MULTIPROC_DIR=/run/aiexpense-metrics \\
        gunicorn -c deploy/gunicorn/gunicorn.conf.py 'aiexpense.app:create_app()'

prometheus-client's multiprocess mode needs the directory set before any worker imports it
and emptied when the server starts (``on_starting``). The kit notices a dead worker by itself
(at the next scrape, or within a second); ``child_exit`` makes that immediate, and is optional.
``post_worker_init`` tunes each worker's garbage collector as ``exporter serve`` does.
"""

import os

from aiexpense.serving import tune_gc
from exporter.multiprocess import clear, mark_process_dead

worker_class = "uvicorn_worker.UvicornWorker"
workers = int(os.environ.get("EXPORTER_WORKERS", "2"))
bind = f"{os.environ.get('EXPORTER_HOST', '127.0.0.1')}:{os.environ.get('EXPORTER_PORT', '8080')}"
graceful_timeout = 30


def on_starting(server):  # the arbiter, before the first worker: files of an earlier run go
    clear(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def post_worker_init(worker):  # each worker, before it serves (see aiexpense.serving)
    tune_gc()


def child_exit(server, worker):  # the arbiter, for each worker that exits, however it died
    mark_process_dead(worker.pid, os.environ["PROMETHEUS_MULTIPROC_DIR"])
