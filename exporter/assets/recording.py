"""The recording rules: one group, in dependency order.

Prometheus evaluates the rules of a group one after the other, each reading what the ones
above wrote in the same evaluation; separate groups run on their own timers in no fixed
order. So every rule that reads a recorded series sits below it in the same group, and a
service's extension rules are appended at the end.

Names follow https://prometheus.io/docs/practices/rules/ (level:metric:operations).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import RecordingRule
from .series import Series
from .sli import Sli
from .slo import SloRules, objectives


@dataclass(frozen=True)
class Recorded:
    """Names of the recorded series other parts read."""

    namespace: str

    @property
    def slo_requests(self) -> str:
        return f"job:{self.namespace}_slo_requests:rate5m"

    @property
    def slo_ratio(self) -> str:
        return f"job:{self.namespace}_slo_errors:ratio_rate5m"

    @property
    def route_requests(self) -> str:
        return f"job_route:{self.namespace}_http_requests:rate5m"

    @property
    def route_5xx(self) -> str:
        return f"job_route:{self.namespace}_http_requests_5xx:rate5m"

    @property
    def route_5xx_ratio(self) -> str:
        return f"job_route:{self.namespace}_http_requests_5xx:ratio_rate5m"

    @property
    def operation_rate(self) -> str:
        return f"job_operation:{self.namespace}_operations:rate5m"

    @property
    def operation_sum(self) -> str:
        return f"job_operation:{self.namespace}_operation_duration_seconds_sum:rate5m"

    @property
    def operation_count(self) -> str:
        return f"job_operation:{self.namespace}_operation_duration_seconds_count:rate5m"

    @property
    def mean_latency(self) -> str:
        return f"job_operation:{self.namespace}_operation_duration_seconds:mean_rate5m"


def recording_rules(sli: Sli) -> list[RecordingRule]:
    """Every generated recording rule for the spec, in evaluation order."""
    spec, clock = sli.spec, sli.clock
    s, r = Series(spec.namespace), Recorded(spec.namespace)
    job, five = f'job="{spec.job}"', clock.of("5m")
    rules: list[RecordingRule] = []
    for objective in objectives(sli):
        rules += SloRules(sli, objective).recording()
    if spec.parts.http:
        rules += [
            RecordingRule(
                r.route_requests, f"sum by (job, route) (rate({s.http_requests}{{{job}}}[{five}]))"
            ),
            # "or 0 * ...": a route that never answered 5xx reads 0%, not nothing
            RecordingRule(
                r.route_5xx,
                f'sum by (job, route) (rate({s.http_requests}{{{job}, status=~"5.."}}'
                f"[{five}]))\n  or 0 * {r.route_requests}",
            ),
            RecordingRule(r.route_5xx_ratio, f"{r.route_5xx} / ({r.route_requests} > 0)"),
        ]
    if spec.parts.operations:
        d = s.operation_duration
        rules += [
            RecordingRule(
                r.operation_rate, f"sum by (job, operation) (rate({s.operations}{{{job}}}[{five}]))"
            ),
            RecordingRule(
                r.operation_sum, f"sum by (job, operation) (rate({d}_sum{{{job}}}[{five}]))"
            ),
            RecordingRule(
                r.operation_count, f"sum by (job, operation) (rate({d}_count{{{job}}}[{five}]))"
            ),
            # "> 0": an idle operation has no mean (not NaN)
            RecordingRule(r.mean_latency, f"{r.operation_sum} / ({r.operation_count} > 0)"),
        ]
    return rules
