"""How native histograms reach the exposition: a metric family that carries them.

A collector yields, for a histogram with native buckets, a family satisfying
:class:`NativeCarrier`: a prometheus-client ``Metric`` of type ``histogram`` whose
``native`` lists each series' labels and :class:`~.state.NativeState`. The protobuf
encoder renders a carrier from ``native`` alone (native buckets, and classic buckets
beside them when the state has some); every other encoder (text, OpenMetrics: they have no
syntax for native buckets that Prometheus 2.x reads) renders the family's ordinary
samples, which :class:`NativeHistogramFamily` derives from the same states: the classic
buckets (only ``+Inf`` for a native-only histogram), ``_count``, ``_sum``, ``_created``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from .state import NativeState

NativeSeries = tuple[Mapping[str, str], NativeState]


@runtime_checkable
class NativeCarrier(Protocol):
    """A metric family with native histogram series (what the protobuf encoder looks for)."""

    name: str
    documentation: str
    unit: str
    native: Sequence[NativeSeries]


class NativeHistogramFamily(Metric):
    """A histogram family built from :class:`NativeState` s, rendered natively in protobuf
    and as classic samples everywhere else; ``created``: emit ``_created`` samples (as
    prometheus-client's own histograms do unless disabled)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        unit: str = "",
        created: bool = True,
    ) -> None:
        self._labelnames = tuple(labelnames)
        self._created = created
        self.native: list[NativeSeries] = []
        self._pending = 0  # series in ``native`` whose samples are not yet built
        super().__init__(name, documentation, "histogram", unit)

    # The classic samples are built when a text encoder first reads them: the protobuf
    # encoder reads ``native`` alone and never pays for them.
    @property
    def samples(self) -> list[Sample]:
        while self._pending:
            labels, state = self.native[-self._pending]
            self._pending -= 1
            self._add_classic_samples(dict(labels), state)
        return self._samples

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        self._samples = value

    def add_state(self, labelvalues: Sequence[str], state: NativeState) -> None:
        """Add one series: its label values (in ``labelnames`` order) and state."""
        if len(labelvalues) != len(self._labelnames):
            raise ValueError(f"expected {len(self._labelnames)} label values: {labelvalues!r}")
        labels = dict(zip(self._labelnames, labelvalues, strict=True))
        self.native.append((labels, state))
        self._pending += 1

    def _add_classic_samples(self, labels: dict[str, str], state: NativeState) -> None:
        bucket = self.name + "_bucket"
        bounds = (*state.classic_bounds, float("inf"))
        cumulative = state.cumulative_classic() if state.classic_counts else [state.count]
        for bound, total, exemplar in zip(bounds, cumulative, state.exemplars, strict=True):
            le = {**labels, "le": floatToGoString(bound)}
            self._samples.append(Sample(bucket, le, float(total), None, exemplar))
        self._samples.append(Sample(self.name + "_count", labels, float(state.count)))
        self._samples.append(Sample(self.name + "_sum", labels, state.sum))
        if self._created:
            self._samples.append(Sample(self.name + "_created", labels, state.created))


def native_series(family: object) -> Sequence[NativeSeries] | None:
    """``family``'s native series when it is a :class:`NativeCarrier`, else ``None``."""
    return family.native if isinstance(family, NativeCarrier) else None
