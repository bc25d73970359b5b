"""The kit's own three operation metrics read straight from every process's mmap files
(``MultiProcessCollector`` would rebuild every sample), caching where each value sits."""

from __future__ import annotations

import glob
import json
import math
import os
import struct
from collections.abc import Iterable, Iterator

from ..stats import Cumulative
from .directory import locked
from .publishing import go_float

_HEADER = struct.Struct("i")  # an mmap file's used length, then entries
_ENTRY = struct.Struct("dd")  # a value and its timestamp, after each key


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
        self._le = {go_float(b): i for i, b in enumerate((*bounds, math.inf))}
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
                return "bucket", op, self._le[go_float(float(labels["le"]))]
        return None
