"""What a serving process sets for itself before it builds its app (``exporter serve``,
each of its workers, the gunicorn set-up's workers).

``tune_gc()``: CPython runs a collection of its youngest generation once the container
objects allocated and not yet freed exceed 700, a tenth of them followed by an older
generation's, some of those by a full one. The requests in flight alone hold more than 700:
under the mixed API at 64 connections one worker collected about 120 times a second, a full
collection (20-30 ms, the whole heap) every second or so, 6-8% of its CPU (16-34 us a
request), and every request in flight waited through each full one. With the young
threshold at ``YOUNG_THRESHOLD`` the same runs collected nothing (8 s runs, counted and
timed with ``gc.callbacks``): what a request allocates is freed by reference counting when
it ends, and only objects that outlive their requests (cache entries) count towards the next
collection. Cyclic garbage waits longer for it, no more than the threshold's objects.
"""

from __future__ import annotations

import gc
from typing import Final

from starlette.applications import Starlette

from .app import create_app

YOUNG_THRESHOLD: Final = 20_000


def tune_gc() -> None:
    """Raise the garbage collector's young threshold to ``YOUNG_THRESHOLD`` (the older
    generations' thresholds stay)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def worker_app() -> Starlette:
    """The app of one worker process (uvicorn's factory under ``--workers``): the process
    tuned, then ``create_app()`` from the environment the supervisor passed on."""
    tune_gc()
    return create_app()
