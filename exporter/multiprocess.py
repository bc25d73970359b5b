"""Several worker processes of one server: prometheus-client's multiprocess mode, extended.

prometheus-client already keeps every Counter, Gauge and Histogram of every process in mmap
files under ``PROMETHEUS_MULTIPROC_DIR`` and adds them up at scrape time. It falls short in
three ways, which this module mends without a second storage mechanism:

- **Custom collectors** (health, pool, caches, queues, process and last-recorded series) and
  the per-operation min/max/last are not in those files. Each process *publishes* them: every
  ``interval`` seconds it writes its own ``published_<pid>.json`` (atomically), and a reader
  merges them by a rule per family (``sum``, ``min``, ``max``, ``first``, ``worst``).
- **Dead workers** keep their files forever, so every scrape reads every pid that ever lived,
  and their gauges (memory, health) go on counting. ``mark_process_dead(pid)`` compacts a dead
  worker's files into ``*_dead`` files (counters and histograms added, min/max gauges folded,
  live gauges dropped): the scrape cost follows the live workers, and no total goes
  backwards. No supervisor hook is needed to call it: each process leaves a mark with its
  start time (``process_<pid>_<token>.alive``, see ``_liveness``), and ``sweep()`` (run by
  every scrape and by every process's publisher once a second) compacts the files of any pid
  that no longer runs, or now runs another process.
- **Native histograms and exemplars** are not in the mmap files either: they ride in the
  published document too (``_shared_native``), merged at scrape and folded when a worker dies.
- **Reading the kit's own numbers** through ``MultiProcessCollector`` rebuilds every sample;
  ``OperationFiles`` reads just the three operation metrics, caching where each value sits.

Readers take a shared lock and compaction an exclusive one (``flock`` on ``<dir>/.lock``), so a
reader never sees a dead worker's values twice or not at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import math
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from . import _liveness
from ._shared_native import (
    KeptExemplars,
    attach_exemplars,
    exemplars_to_json,
    merge_exemplars,
    merge_native,
    merged_to_json,
    native_families,
    own_native,
)
from .baseline import reset_at
from .native.collector import NativeHistogramCollector
from .stats import Cumulative, Extremes

DEAD = "dead"
RULES = ("sum", "min", "max", "first", "worst")
RENDER_SUFFIX = ".render"  # the /metrics renders the workers share (see ``exposition``)
MARK_SUFFIX = ".alive"  # process_<pid>_<start token>.alive: who wrote the pid's files
STARTED = "server.started"  # when the server's first process started (its uptime)
_HEADER = struct.Struct("i")
_ENTRY = struct.Struct("dd")


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


class OperationFiles:
    """Sums one collector's three operation metrics over every process's mmap files.

    Files only grow (new keys are appended), so each file's keys are parsed once and only
    the values at the remembered positions are read again.
    """

    def __init__(
        self, path: str, total: str, errors: str, duration: str, bounds: Iterable[float]
    ) -> None:
        self._path = path
        self._total, self._errors, self._duration = total, errors, duration
        self._le = {_go_float(b): i for i, b in enumerate((*bounds, math.inf))}
        self._files: dict[str, tuple[int, int, list[tuple[int, str, str, int]]]] = {}

    def read(self) -> dict[str, Cumulative]:
        counts: dict[str, float] = {}
        errors: dict[str, float] = {}
        sums: dict[str, float] = {}
        buckets: dict[str, list[float]] = {}
        size = len(self._le)
        with locked(self._path):
            names = glob.glob(os.path.join(self._path, "counter_*.db"))
            names += glob.glob(os.path.join(self._path, "histogram_*.db"))
            for name in names:
                for kind, op, index, value in self._values(name):
                    if kind == "total":
                        counts[op] = counts.get(op, 0.0) + value
                    elif kind == "errors":
                        errors[op] = errors.get(op, 0.0) + value
                    elif kind == "sum":
                        sums[op] = sums.get(op, 0.0) + value
                    else:
                        buckets.setdefault(op, [0.0] * size)[index] += value
        result = {}
        for op in counts.keys() | buckets.keys():
            running, cumulative = 0, []
            for value in buckets.get(op, [0.0] * size):
                running += int(value)
                cumulative.append(running)
            result[op] = Cumulative(
                int(counts.get(op, 0)), int(errors.get(op, 0)), sums.get(op, 0.0), tuple(cumulative)
            )
        return result

    def _values(self, name: str) -> Iterator[tuple[str, str, int, float]]:
        try:
            with open(name, "rb") as f:
                data = f.read()
                inode = os.fstat(f.fileno()).st_ino
        except FileNotFoundError:  # compacted between the glob and now: not possible under
            return  # the lock, but a file can also vanish when a test clears the directory
        if len(data) < 8:
            return
        used = _HEADER.unpack_from(data, 0)[0]
        known_inode, parsed, entries = self._files.get(name, (inode, 8, []))
        if known_inode != inode:
            parsed, entries = 8, []
        parsed = self._parse(data, parsed, used, entries)
        self._files[name] = (inode, parsed, entries)
        for pos, kind, op, index in entries:
            yield kind, op, index, _ENTRY.unpack_from(data, pos)[0]

    def _parse(
        self, data: bytes, pos: int, used: int, entries: list[tuple[int, str, str, int]]
    ) -> int:
        while pos < used:
            length = _HEADER.unpack_from(data, pos)[0]
            key = data[pos + 4 : pos + 4 + length].decode()
            pos += 4 + length + (8 - (length + 4) % 8)
            found = self._classify(key)
            if found is not None:
                entries.append((pos, *found))
            pos += 16
        return pos

    def _classify(self, key: str) -> tuple[str, str, int] | None:
        metric, sample, labels, _ = json.loads(key)
        op = labels.get("operation")
        if op is None:
            return None
        if metric == self._total:
            return "total", op, 0
        if metric == self._errors:
            return "errors", op, 0
        if metric == self._duration:
            if sample.endswith("_sum"):
                return "sum", op, 0
            if sample.endswith("_bucket"):
                return "bucket", op, self._le[_go_float(float(labels["le"]))]
        return None


def _go_float(value: float) -> str:
    return "+Inf" if value == math.inf else repr(float(value))


# -- what each process publishes ------------------------------------------------------------


def family_to_json(family: Metric) -> dict[str, Any]:
    """A family as JSON, without ``_created`` samples (one process's creation time means
    nothing for the server's total)."""
    return {
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "samples": [
            [s.name, s.labels, s.value] for s in family.samples if not s.name.endswith("_created")
        ],
    }


class Publisher:
    """Writes this process's custom families and operation extremes for the others to read.

    ``families`` returns what to publish (the collectors prometheus-client does not store);
    ``extremes`` the per-operation min/max/last. A daemon thread publishes every ``interval``
    seconds; ``publish()`` does it at once (before a read, and when the process stops).
    ``kept`` names the gauge families that outlive the process, and the rule they fold by
    (``{"x_last_recorded_timestamp_seconds": "max"}``): counters always do, other gauges
    (memory, health) stop counting with it. ``extra``: more sections of the document (native
    histograms and exemplars, see ``_shared_native``).
    """

    def __init__(
        self,
        path: str,
        families: Callable[[], Iterable[Metric]],
        extremes: Callable[[], Mapping[str, Extremes]],
        interval: float = 1.0,
        on_interval: Callable[[], None] | None = None,
        kept: Mapping[str, str] | None = None,
        extra: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self._path = path
        self._extra = extra
        self._families = families
        self._extremes = extremes
        self._interval = interval
        self._on_interval = on_interval
        self._kept = dict(kept or {})
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="metrics-publisher", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):  # a failed publish shows as stale numbers
                if self._on_interval is not None:
                    self._on_interval()
                self.publish()

    def own(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "at": time.time(),
            "families": [family_to_json(f) for f in self._families()],
            "kept": self._kept,
            **extremes_document(self._extremes()),
            **(self._extra() if self._extra is not None else {}),
        }

    def publish(self) -> None:
        body = json.dumps(self.own(), separators=(",", ":"))
        target = os.path.join(self._path, f"published_{os.getpid()}.json")
        with self._lock:
            temporary = f"{target}.tmp"
            with open(temporary, "w") as f:
                f.write(body)
            os.replace(temporary, target)


def read_published(path: str, skip_pid: int | None = None) -> list[dict[str, Any]]:
    """Every process's published document (and the dead workers' fold), but ``skip_pid``'s."""
    documents = []
    for name in glob.glob(os.path.join(path, "published_*.json")):
        if skip_pid is not None and name.endswith(f"_{skip_pid}.json"):
            continue
        try:
            with open(name) as f:
                documents.append(json.load(f))
        except (FileNotFoundError, ValueError):  # replaced or half-written: next time
            continue
    return documents


def extremes_document(extremes: Mapping[str, Extremes]) -> dict[str, Any]:
    """Extremes in the published form ``{"extremes": {op: [min, max, last]}}``."""
    return {
        "extremes": {
            op: [e.min_seconds, e.max_seconds, e.last_recorded] for op, e in extremes.items()
        }
    }


def merge_extremes(documents: Iterable[Mapping[str, Any]]) -> dict[str, Extremes]:
    merged: dict[str, Extremes] = {}
    for document in documents:
        for op, (lo, hi, last) in document.get("extremes", {}).items():
            mine = Extremes(lo, hi, last)
            merged[op] = merged[op].merge(mine) if op in merged else mine
    return merged


_Key = tuple[str, tuple[tuple[str, str], ...]]  # a sample's name and sorted labels
_Samples = list[list[Any]]  # published samples: [name, labels, value]


def merge_families(
    documents: Iterable[Mapping[str, Any]], rules: Mapping[str, str]
) -> list[Metric]:
    """Combine the published families of every process, each by its rule.

    The rule of a family is ``rules[name]``, else ``sum`` for counters and gauges, ``first``
    for info, ``worst`` for state sets (the state furthest down the family's own order wins).
    """
    merged: dict[str, tuple[Metric, dict[_Key, float]]] = {}
    for document in documents:
        for item in document.get("families", ()):
            name = item["name"]
            if name not in merged:
                merged[name] = (Metric(name, item["help"], item["type"]), {})
            family, values = merged[name]
            rule = rules.get(name) or _default_rule(family.type)
            if rule == "worst":
                _merge_worst(values, item["samples"])
                continue
            for sample, labels, value in item["samples"]:
                key = (sample, tuple(sorted(labels.items())))
                values[key] = _combine(rule, values[key], value) if key in values else value
    families = []
    for family, values in merged.values():
        for (sample, labels), value in values.items():
            family.samples.append(Sample(sample, dict(labels), value))
        families.append(family)
    return families


def _default_rule(kind: str) -> str:
    return {"info": "first", "stateset": "worst"}.get(kind, "sum")


def _combine(rule: str, a: float, b: float) -> float:
    if rule == "sum":
        return a + b
    if rule == "min":
        return min(a, b)
    if rule == "max":
        return max(a, b)
    return a  # first


def _merge_worst(values: dict[_Key, float], samples: _Samples) -> None:
    """A state set: keep one state per label set, the worst any process is in."""
    keys = [(s, tuple(sorted(labels.items()))) for s, labels, _ in samples]
    order = {key: i for i, key in enumerate(keys)}
    held = [k for k, v in values.items() if v]
    mine = [k for k, (_, _, value) in zip(keys, samples, strict=True) if value]
    worst = max(held + mine, key=lambda k: order.get(k, -1), default=None)
    for key in keys:
        values[key] = 1.0 if key == worst else 0.0


# -- the scrape -----------------------------------------------------------------------------


class ServerCollector(Collector):
    """Everything at ``/metrics`` for the whole server: prometheus-client's own multiprocess
    merge of the mmap files, plus the published families of every process (this one's read
    fresh), both under the shared lock. First, unless ``sweep=False``, the files of processes
    gone since are compacted (``sweep``), so a dead worker's gauges stop counting at once."""

    def __init__(
        self,
        path: str,
        own: Callable[[], Iterable[Metric]],
        rules: Mapping[str, str],
        *,
        sweep: bool = True,
        natives: Callable[[], Iterable[NativeHistogramCollector]] = list,
        kept: KeptExemplars | None = None,
    ) -> None:
        self._path = path
        self._own = own
        self._rules = rules
        self._sweep = sweep
        self._natives = natives
        self._kept = kept

    def collect(self) -> Iterable[Metric]:
        if self._sweep:
            sweep(self._path)
        own: dict[str, Any] = {"families": [family_to_json(f) for f in self._own()]}
        if self._kept is not None:
            own["exemplars"] = self._kept.document()
        natives = list(self._natives())
        with locked(self._path):
            files = glob.glob(os.path.join(self._path, "*.db"))
            stored = list(MultiProcessCollector.merge(files, accumulate=True))
            published = read_published(self._path, skip_pid=os.getpid())
        attach_exemplars(stored, merge_exemplars([own, *published]))
        native = native_families(natives, merge_native(published, own_native(natives)))
        return [*stored, *native, *merge_families([own, *published], self._rules)]


# -- dead workers ---------------------------------------------------------------------------

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
