"""Input series for the promtool proofs: counters that grow phase by phase, gauges that step.

Every sample is one minute apart (the tests' ``interval``). Counters grow by whole numbers:
repeated float additions drift, and a flat value written after them can be a hair lower,
which ``rate()`` reads as a counter reset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Phase = tuple[int, int]  # (minutes, increase per minute)


def counter(phases: Sequence[Phase]) -> str:
    """promtool values for a counter starting at 0 and growing as ``phases`` say."""
    out, value = ["0"], 0
    for minutes, inc in phases:
        if minutes <= 0:
            continue
        out.append(f"{value + inc}+{inc}x{minutes - 1}")
        value += inc * minutes
    return " ".join(out)


def gauge(phases: Sequence[tuple[int, float | None]]) -> str:
    """promtool values for a gauge holding each value for its minutes (None: no sample)."""
    out = []
    for minutes, value in phases:
        if minutes > 0:
            text = "_" if value is None else _number(value)
            out.append(f"{text}x{minutes - 1}" if minutes > 1 else text)
    return " ".join(out)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def selector(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def minutes(m: int) -> str:
    return f"{m}m"


class Steps:
    """The timeline of a step case: healthy for ``before`` minutes, bad long enough for an
    alert with ``for_minutes`` to fire with its 5-minute windows full, healthy again until
    every window has cleared."""

    def __init__(self, for_minutes: int, before: int = 10) -> None:
        self.before = before
        self.bad = for_minutes + 10
        self.after = 20
        self.for_minutes = for_minutes

    def phases(self, healthy: float, bad: float) -> list[tuple[int, float]]:
        return [(self.before, healthy), (self.bad, bad), (self.after + 1, healthy)]

    def counter_phases(self, healthy: int, bad: int) -> list[Phase]:
        return [(self.before, healthy), (self.bad, bad), (self.after, healthy)]

    @property
    def quiet(self) -> tuple[str, ...]:
        times = [minutes(self.before - 1)]
        if self.for_minutes >= 3:  # bad already, the "for" not yet elapsed
            times.append(minutes(self.before + 1))
        return tuple(times)

    @property
    def firing(self) -> tuple[str, ...]:
        return (minutes(self.before + self.for_minutes + 6),)

    @property
    def resolved(self) -> tuple[str, ...]:
        return (minutes(self.before + self.bad + 10),)
