"""``aiexpense-bench compare OLD.json NEW.json``: a benchstat-style table.

For each benchmark in both files: the old and new median, the change in percent, and
whether the change is significant: a two-sided Mann-Whitney U test (scipy) on the values
each run saved, at p < 0.05 by default. A change that is not significant prints ``~``,
as benchstat does: the two runs cannot be told apart, whatever their medians say.
Every value is a time (seconds per operation or per request), so a positive change is a
slowdown. ``--fail-on-regression PCT`` exits 1 when a significant slowdown exceeds PCT.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .units import seconds

ALPHA = 0.05


@dataclass(frozen=True, slots=True)
class Change:
    name: str
    old: float  # median
    new: float
    n_old: int
    n_new: int
    p_value: float | None  # None: too few values to test

    @property
    def percent(self) -> float:
        return 100.0 * (self.new - self.old) / self.old if self.old else math.inf

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p_value is not None and self.p_value < alpha


def mann_whitney_p(old: Sequence[float], new: Sequence[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value; None with fewer than 2 values on a side."""
    if len(old) < 2 or len(new) < 2:
        return None
    if len(set(old) | set(new)) == 1:
        return 1.0  # all values equal: nothing to tell apart (scipy would give nan)
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(old, new, alternative="two-sided").pvalue)


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """One Change per benchmark present in both result documents, in the new file's order."""
    before, after = old.get("benchmarks", {}), new.get("benchmarks", {})
    changes = []
    for name, bench in after.items():
        if name not in before:
            continue
        a, b = before[name]["values"], bench["values"]
        changes.append(
            Change(
                name, before[name]["median"], bench["median"], len(a), len(b), mann_whitney_p(a, b)
            )
        )
    return changes


def regressions(changes: list[Change], percent: float, alpha: float = ALPHA) -> list[Change]:
    """Significant slowdowns larger than ``percent``."""
    return [c for c in changes if c.significant(alpha) and c.percent > percent]


def verdict(change: Change, alpha: float = ALPHA) -> str:
    n = f"n={change.n_old}+{change.n_new}"
    if change.p_value is None:
        return f"~ (too few values, {n})"
    stats = f"(p={change.p_value:.3f} {n})"
    if not change.significant(alpha):
        return f"~ {stats}"
    return f"{change.percent:+.1f}% {stats}"


def geomean_percent(changes: list[Change]) -> float | None:
    ratios = [c.new / c.old for c in changes if c.old > 0 and c.new > 0]
    if not ratios:
        return None
    return 100.0 * (math.exp(sum(math.log(r) for r in ratios) / len(ratios)) - 1.0)


def table(changes: list[Change], alpha: float = ALPHA) -> str:
    width = max([len(c.name) for c in changes] + [len("name"), len("[geomean]")])
    lines = [f"{'name':<{width}}  {'old':>10}  {'new':>10}  delta"]
    for c in changes:
        lines.append(
            f"{c.name:<{width}}  {seconds(c.old):>10}  {seconds(c.new):>10}  {verdict(c, alpha)}"
        )
    geo = geomean_percent(changes)
    if geo is not None:
        lines.append(f"{'[geomean]':<{width}}  {'':>10}  {'':>10}  {geo:+.1f}%")
    return "\n".join(lines)


def only_in(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    a, b = set(old.get("benchmarks", {})), set(new.get("benchmarks", {}))
    return sorted(a - b), sorted(b - a)
