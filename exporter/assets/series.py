"""The series the kit exposes under a namespace, named the way the kit names them.

Every name comes from ``exporter._names.metric_name`` and the families the kit registers
(collector, middleware, health, pool counters); ``tests/kit/assets`` checks them against a
live exposition of a collector, middleware and health checker, so a rule cannot read a series
the kit does not write (the failure this package is built against: a recording rule that is
empty for the team's series, and the alerts reading it that can never fire).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from .._names import metric_name
from ..health.builtin import POOL_COUNTERS

# prometheus-client's process and platform collectors: no namespace.
PROCESS_SERIES = (
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_open_fds",
    "python_gc_collections_total",
    "python_info",
)


def le(bound: float) -> str:
    """The ``le`` label value prometheus-client writes for a bucket bound ("0.25", "1.0")."""
    return str(floatToGoString(bound))


@dataclass(frozen=True)
class Series:
    """Metric names of one namespace."""

    namespace: str

    def name(self, family: str) -> str:
        return metric_name(self.namespace, family)

    # MetricsCollector
    @property
    def operations(self) -> str:
        return self.name("operations_total")

    @property
    def operation_errors(self) -> str:
        return self.name("operation_errors_total")

    @property
    def operation_duration(self) -> str:  # histogram: add _bucket, _sum, _count
        return self.name("operation_duration_seconds")

    @property
    def build_info(self) -> str:
        return self.name("build_info")

    # HttpMetricsMiddleware
    @property
    def http_requests(self) -> str:
        return self.name("http_requests_total")

    @property
    def http_duration(self) -> str:
        return self.name("http_request_duration_seconds")

    @property
    def http_in_progress(self) -> str:
        return self.name("http_requests_in_progress")

    # HealthChecker
    @property
    def health_status(self) -> str:  # a state set: the label is the family's own name
        return self.name("health_status")

    @property
    def health_check_up(self) -> str:
        return self.name("health_check_up")

    @property
    def db_up(self) -> str:
        return self.name("db_up")

    @property
    def db_ping(self) -> str:
        return self.name("db_ping_seconds")

    @property
    def pool_connections(self) -> str:
        return self.name("db_pool_connections")

    @property
    def pool_max(self) -> str:
        return self.name("db_pool_max_connections")

    @property
    def pool_waiting(self) -> str:
        return self.name("db_pool_requests_waiting")

    def pool_counter(self, key: str) -> str:
        """A pool counter by its psycopg-pool stats key (``requests_wait_ms`` ...)."""
        for stats_key, family, _, _ in POOL_COUNTERS:
            if stats_key == key:
                return self.name(f"{family}_total")
        raise KeyError(key)

    def all_exposed(self, *, database: bool = True) -> frozenset[str]:
        """Every sample name the kit can expose here (what dashboards and rules may read)."""
        histograms = (self.operation_duration, self.http_duration)
        names = {
            self.operations,
            self.operation_errors,
            self.build_info,
            self.http_requests,
            self.http_in_progress,
            self.health_status,
            self.health_check_up,
            self.name("operations_overflow_total"),
            self.name("operation_last_recorded_timestamp_seconds"),
            *(f"{h}_{suffix}" for h in histograms for suffix in ("bucket", "sum", "count")),
            *PROCESS_SERIES,
        }
        if database:
            names |= {
                self.db_up,
                self.db_ping,
                self.pool_connections,
                self.pool_max,
                self.pool_waiting,
                *(self.pool_counter(k) for k, *_ in POOL_COUNTERS),
            }
        return frozenset(names)
