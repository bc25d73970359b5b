"""The request SLI the spec defines: which series count requests, errors and slow requests.

By default the HTTP middleware's series (every kit user has them); optionally the
collector's operations. Both expressions are per job and summed over instances: an SLO is
about the service as its users see it, not about one replica.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .series import Series, le
from .spec import Spec
from .windows import Clock

_RE2_SPECIAL = set(r".^$*+?()[]{}|\\")


def alternatives(values: Iterable[str]) -> str:
    """A PromQL regex string body matching exactly ``values`` (special characters escaped,
    backslashes doubled for the PromQL string literal)."""
    return "|".join("".join("\\\\" + c if c in _RE2_SPECIAL else c for c in v) for v in values)


def matcher(label: str, values: tuple[str, ...]) -> str:
    if len(values) == 1:
        return f'{label}="{values[0]}"'
    return f'{label}=~"{alternatives(values)}"'


@dataclass(frozen=True)
class Sli:
    spec: Spec
    clock: Clock

    @property
    def series(self) -> Series:
        return Series(self.spec.namespace)

    @property
    def http(self) -> bool:
        return self.spec.slo.source == "http"

    def filter(self) -> str:
        """The matcher that picks the SLO's requests out of the family ("" for all)."""
        slo = self.spec.slo
        if self.http:
            return matcher("route", slo.routes) if slo.routes else ""
        return matcher("operation", slo.operations)

    def scope(self, extra: str = "") -> str:
        parts = [f'job="{self.spec.job}"', self.filter(), extra]
        return "{" + ", ".join(p for p in parts if p) + "}"

    def _sum_rate(self, metric: str, extra: str = "") -> str:
        return f"sum by (job) (rate({metric}{self.scope(extra)}[{self.clock.of('5m')}]))"

    def requests(self) -> str:
        s = self.series
        return self._sum_rate(s.http_requests if self.http else s.operations)

    def errors(self) -> str:
        """Failed requests; "or 0 * requests": no 5xx series yet reads 0, not nothing."""
        s = self.series
        if self.http:
            bad = self._sum_rate(s.http_requests, 'status=~"5.."')
        else:
            bad = self._sum_rate(s.operation_errors)
        return f"{bad}\n  or 0 * {self.requests()}"

    def _histogram(self) -> str:
        s = self.series
        return s.http_duration if self.http else s.operation_duration

    def timed(self) -> str:
        return self._sum_rate(f"{self._histogram()}_count")

    def slow(self) -> str:
        """Requests slower than the latency threshold: all minus those within it."""
        bound = self.spec.slo.latency_seconds
        assert bound is not None
        within = self._sum_rate(f"{self._histogram()}_bucket", f'le="{le(bound)}"')
        return f"{self.timed()}\n  - {within}"

    # what the promtool proofs feed these expressions
    def sample_labels(self) -> dict[str, str]:
        slo = self.spec.slo
        if self.http:
            return {"method": "GET", "route": slo.routes[0] if slo.routes else "/example"}
        return {"operation": slo.operations[0]}
