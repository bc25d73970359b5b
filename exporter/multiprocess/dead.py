"""Dead workers: their files compacted into ``*_dead`` files (counters and histograms added,
min/max gauges folded, live gauges dropped), by a supervisor's hook (``mark_process_dead``)
or without one (``sweep``: each process leaves a mark with its start token, and any pid that
no longer runs, or now runs another process, is folded)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
from collections.abc import Callable

from prometheus_client.mmap_dict import MmapedDict

from .. import _liveness
from .._shared_native import (
    exemplars_to_json,
    merge_exemplars,
    merge_native,
    merged_to_json,
)
from ..baseline import reset_at
from .directory import DEAD, MARK_SUFFIX, locked
from .merging import extremes_document, merge_extremes, merge_families
from .publishing import family_to_json

_FOLD: dict[str, Callable[[float, float], float]] = {
    "min": min,
    "max": max,
    "sum": lambda a, b: a + b,
}


def mark_process_dead(pid: int, path: str | os.PathLike[str]) -> None:
    """A worker has died: fold its files into the ``*_dead`` ones and remove them.

    ``sweep()`` calls it for every process it finds gone; a supervisor may call it too, at
    once (``exporter serve`` does; under gunicorn, the ``child_exit`` hook). Counters,
    histograms and summaries are added; ``min``/``max``/``sum`` gauges folded by their mode;
    ``live*`` gauges dropped (as prometheus-client's own ``mark_process_dead`` does);
    ``mostrecent`` and ``all`` gauges are left as they are. What the process published is
    folded (counters and extremes kept), its other documents and its mark removed. Calling it
    again for the same pid does nothing.
    """
    path = os.fspath(path)
    with locked(path, exclusive=True):
        _bury(pid, path)


def _bury(pid: int, path: str) -> None:
    for name in glob.glob(os.path.join(path, f"*_{pid}.db")):
        base = os.path.basename(name)[: -len(f"_{pid}.db")]
        kind, _, mode = base.partition("_")
        if kind == "gauge" and mode.startswith("live"):
            os.remove(name)
        elif kind != "gauge" or mode in _FOLD:
            _fold_mmap(name, os.path.join(path, f"{base}_{DEAD}.db"), _FOLD.get(mode, _FOLD["sum"]))
            os.remove(name)
    published = os.path.join(path, f"published_{pid}.json")
    if os.path.exists(published):
        _fold_published(published, os.path.join(path, f"published_{DEAD}.json"))
        os.remove(published)
    # Its other documents (its health report, ...) are snapshots that die with it, and so
    # do the halves it was writing when it died.
    for name in glob.glob(os.path.join(path, f"*_{pid}.json*")):
        os.remove(name)
    for name in glob.glob(os.path.join(path, f"process_{pid}_*{MARK_SUFFIX}")):
        os.remove(name)


# -- noticing dead workers without a supervisor's help --------------------------------------


def mark_alive(path: str | os.PathLike[str], pid: int | None = None) -> None:
    """Leave this process's mark (its pid and start token; or ``pid``'s, a running process)
    beside its files, so that others can tell it from a later process that reuses its pid.
    Any older mark of the same pid (a process gone before its files were swept) goes."""
    pid = os.getpid() if pid is None else pid
    token = _liveness.start_token(pid)
    if token is None:
        raise ProcessLookupError(f"no running process has pid {pid}")
    path = os.fspath(path)
    mine = f"process_{pid}_{token}{MARK_SUFFIX}"
    for name in glob.glob(os.path.join(path, f"process_{pid}_*{MARK_SUFFIX}")):
        if os.path.basename(name) != mine:
            with contextlib.suppress(FileNotFoundError):
                os.remove(name)
    with open(os.path.join(path, mine), "a"):
        pass


def dead_processes(path: str | os.PathLike[str]) -> list[int]:
    """The pids with files to compact whose process no longer runs, or now runs another
    process than the one that left its mark. One directory listing and one ``/proc`` read
    per pid: no file is opened. (A pid without a mark, such as a process that counts with
    prometheus-client alone, is judged by whether it runs at all.)"""
    marks: dict[int, set[str]] = {}
    for name in os.listdir(path):
        found = _owner(name)
        if found is not None:
            pid, token = found
            marks.setdefault(pid, set()).update(() if token is None else (token,))
    me = os.getpid()
    return sorted(pid for pid, tokens in marks.items() if pid != me and _gone(pid, tokens))


def _gone(pid: int, tokens: set[str]) -> bool:
    # Two marks of one pid: a new process has just replaced the mark of an old one; it runs.
    current = _liveness.start_token(pid)
    return current is None or (bool(tokens) and current not in tokens)


def _owner(name: str) -> tuple[int, str | None] | None:
    """The pid (and, for a mark, the start token) of a file ``_bury`` would remove."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        return None
    if "." + suffix == MARK_SUFFIX:
        _, _, rest = stem.partition("_")
        pid, _, token = rest.partition("_")
        return (int(pid), token) if pid.isdigit() and token else None
    base, _, pid = stem.rpartition("_")
    if not pid.isdigit():
        return None
    if suffix == "json":
        return int(pid), None
    if suffix != "db":
        return None
    kind, _, mode = base.partition("_")
    if kind == "gauge" and not (mode.startswith("live") or mode in _FOLD):
        return None  # "all" and "mostrecent" gauges stay (they would be found every time)
    return int(pid), None


def sweep(path: str | os.PathLike[str]) -> list[int]:
    """Compact the files of every process gone (``dead_processes``), under one exclusive
    lock; the pids compacted. Cheap when nobody died: nothing is locked or opened."""
    dead = dead_processes(path)
    if dead:
        path = os.fspath(path)
        with locked(path, exclusive=True):
            for pid in dead:
                _bury(pid, path)
    return dead


def _fold_mmap(source: str, target: str, combine: Callable[[float, float], float]) -> None:
    into = MmapedDict(target)
    try:
        for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(source):
            before, _ = into.read_value(key)
            into.write_value(key, combine(before, value) if before else value, timestamp)
    finally:
        into.close()


def _fold_published(source: str, target: str) -> None:
    """Keep what must not go backwards: counters add up, the ``kept`` gauges fold by their
    rule, extremes merge; other gauges go."""
    with open(source) as f:
        dead = json.load(f)
    documents = [dead]
    if os.path.exists(target):
        with open(target) as f:
            documents.append(json.load(f))
    kept: dict[str, str] = {}
    for document in documents:
        kept.update(document.get("kept", {}))
    # Extremes from before the view's last reset belong to the old view: readers would skip
    # them by the document's time, which the fold moves on.
    since = reset_at(os.path.dirname(target))
    current = [d for d in documents if d.get("at", 0.0) >= since]
    lasting = [
        {
            "families": [
                f for f in d.get("families", ()) if f["type"] == "counter" or f["name"] in kept
            ]
        }
        for d in documents
    ]
    folded = {
        "at": max(d.get("at", 0.0) for d in documents),
        "families": [family_to_json(f) for f in merge_families(lasting, kept)],
        "kept": kept,
        **extremes_document(merge_extremes(current)),
        # Native histograms add up like counters; per bucket the newest exemplar stays.
        "native": merged_to_json(merge_native(documents)),
        "exemplars": exemplars_to_json(merge_exemplars(documents)),
    }
    temporary = f"{target}.tmp"
    with open(temporary, "w") as f:
        json.dump(folded, f)
    os.replace(temporary, target)
