"""Several worker processes of one server: prometheus-client's multiprocess mode, extended.

prometheus-client already keeps every Counter, Gauge and Histogram of every process in mmap
files under ``PROMETHEUS_MULTIPROC_DIR`` and adds them up at scrape time. It falls short in
several ways, which this package mends without a second storage mechanism:

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

Rooms: ``directory`` (lock, emptying, the server's start), ``operations`` (the kit's own
series from the mmap files), ``publishing`` (each process's document), ``merging`` (the rules
by which families add up), ``collector`` (the server's families at a scrape), ``dead`` (folding
dead workers, with or without a hook). The public API: ``clear`` and ``mark_process_dead`` (the
gunicorn hooks) and ``sweep``.
"""

from .collector import ServerCollector
from .dead import dead_processes, mark_alive, mark_process_dead, sweep
from .directory import DEAD, MARK_SUFFIX, RENDER_SUFFIX, STARTED, clear, locked, server_started
from .merging import RULES, extremes_document, merge_extremes, merge_families
from .operations import OperationFiles
from .publishing import Publisher, family_to_json, read_published

__all__ = [
    "DEAD",
    "MARK_SUFFIX",
    "RENDER_SUFFIX",
    "RULES",
    "STARTED",
    "OperationFiles",
    "Publisher",
    "ServerCollector",
    "clear",
    "dead_processes",
    "extremes_document",
    "family_to_json",
    "locked",
    "mark_alive",
    "mark_process_dead",
    "merge_extremes",
    "merge_families",
    "read_published",
    "server_started",
    "sweep",
]
