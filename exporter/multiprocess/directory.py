"""The shared directory: its lock, emptying it at start, and the server's start time.

Readers take a shared lock and compaction an exclusive one (``flock`` on ``<dir>/.lock``),
so a reader never sees a dead worker's values twice or not at all."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

DEAD = "dead"
RENDER_SUFFIX = ".render"  # the /metrics renders the workers share (see ``exposition``)
MARK_SUFFIX = ".alive"  # process_<pid>_<start token>.alive: who wrote the pid's files
STARTED = "server.started"  # when the server's first process started (its uptime)


# -- locking ---------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(
    path: str | os.PathLike[str], *, exclusive: bool = False, name: str = ".lock"
) -> Iterator[None]:
    """Hold one of the directory's locks: the files' (``.lock``: shared for readers,
    exclusive for compaction) or another ``name``'s."""
    fd = os.open(os.path.join(path, name), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def clear(path: str | os.PathLike[str]) -> None:
    """Empty the directory before a server's first worker starts (prometheus-client's rule:
    files left by an earlier run would be added to this one's)."""
    Path(path).mkdir(parents=True, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith((".db", ".json", RENDER_SUFFIX, ".tmp", MARK_SUFFIX)) or name == STARTED:
            os.remove(os.path.join(path, name))


def server_started(path: str | os.PathLike[str], now: float) -> float:
    """When the server started: the time the first process to ask wrote (``now``, if
    that is this one) to ``server.started``, which ``clear()`` removes with the rest."""
    target = os.path.join(path, STARTED)
    temporary = f"{target}.{os.getpid()}.tmp"
    with open(temporary, "w") as f:
        json.dump({"at": now}, f)
    try:
        os.link(temporary, target)  # only the first succeeds, and whole: no half-read file
        return now
    except FileExistsError:
        with open(target) as f:
            return float(json.load(f)["at"])
    finally:
        os.remove(temporary)


# -- the operation metrics, read fast --------------------------------------------------------
