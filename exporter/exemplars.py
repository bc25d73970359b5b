"""Exemplars: the trace a measurement belongs to, so a slow bucket links to its trace.

The trace of the current request comes from its W3C ``traceparent`` header (parsed by
:class:`~exporter.HttpMetricsMiddleware` and kept in a ``ContextVar`` for the request's
duration), or else from the active OpenTelemetry span when ``opentelemetry-api`` is
installed (the ``[otel]`` extra; never required)::

    from exporter.exemplars import current_exemplar, exemplar_observer

    observe = exemplar_observer(histogram.labels("create_order"))   # bind once
    observe(0.0021, current_exemplar())   # {"trace_id": ..., "span_id": ...} or None

Contract of :func:`current_exemplar` (it sits on every record's hot path):
- returns ``{"trace_id": <32 hex>, "span_id": <16 hex>}`` (lowercase) or ``None``; the dict
  is shared, never mutate it;
- only sampled traces count (trace-flags bit 0, OpenTelemetry's default "trace-based"
  exemplar filter): an unsampled trace is never stored, so a link to it would be dead;
- with no trace it costs one ``ContextVar.get()`` plus, with OpenTelemetry installed, one
  read of OpenTelemetry's current context (empty: no span), each bound once at import:
  ~15 ns and ~35 ns over an empty function call here; it never raises and never blocks.

Exemplars appear only in the OpenMetrics exposition (``Accept:
application/openmetrics-text``), as that format defines them; the classic text format has
no place for them. prometheus-client's multiprocess mode drops them (its mmap values do
not store exemplars).
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any, Final

from prometheus_client import Histogram
from prometheus_client.samples import Exemplar

from ._readback import plain_values

TraceExemplar = dict[str, str]
Observe = Callable[[float, "TraceExemplar | None"], None]

TRACEPARENT: Final = b"traceparent"

# version "-" trace-id "-" parent-id "-" trace-flags, lowercase hex (W3C Trace Context,
# section 3.2); a later version may append "-" and more fields, version 00 may not.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16

# The trace of the request being served: set by the middleware for the request's duration
# (set it yourself around other work, resetting with the token); None outside a request.
current_trace: ContextVar[TraceExemplar | None] = ContextVar("exporter_exemplar", default=None)

try:  # optional: the [otel] extra
    from opentelemetry import context as _otel
    from opentelemetry import trace as _otel_trace
except ImportError:  # pragma: no cover - exercised in the kit-only install test
    _otel = None  # type: ignore[assignment]
    _otel_trace = None  # type: ignore[assignment]


def _otel_context_reader() -> Callable[[], Any] | None:
    """How to read OpenTelemetry's current context: its default runtime context keeps it
    in a ContextVar, read directly (one C call, a third of ``get_current()``'s cost on the
    no-trace path); any other runtime context through the public ``get_current()``."""
    if _otel is None:
        return None
    var = getattr(getattr(_otel, "_RUNTIME_CONTEXT", None), "_current_context", None)
    return var.get if isinstance(var, ContextVar) else _otel.get_current


_otel_context = _otel_context_reader()


def parse_traceparent(value: str | bytes) -> TraceExemplar | None:
    """The exemplar labels of a ``traceparent`` header value, or ``None`` if it is invalid
    (per the W3C spec: version ``ff``, an all-zero trace or parent id, upper-case hex, a
    version-00 header with extra fields) or its trace is not sampled."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN or not int(flags, 16) & 1:
        return None
    return {"trace_id": trace_id, "span_id": span_id}


def from_headers(headers: Iterable[tuple[bytes, bytes]]) -> TraceExemplar | None:
    """The exemplar of an ASGI request's ``traceparent`` header (the first one), or None."""
    for name, value in headers:
        if name == TRACEPARENT:
            return parse_traceparent(value)
    return None


# Bound once: the no-trace path is then a call of each ContextVar's get and a comparison,
# with no attribute lookups (current_trace.set still works: a ContextVar's get is fixed).
_trace = current_trace.get

if _otel_context is None:

    def current_exemplar() -> TraceExemplar | None:
        """The trace of the code running now (see the module docstring for the contract)."""
        return _trace()

else:
    _otel_get = _otel_context
    _get_current_span = _otel_trace.get_current_span

    def current_exemplar() -> TraceExemplar | None:
        """The trace of the code running now (see the module docstring for the contract)."""
        found = _trace()
        # An empty OpenTelemetry context (the common case) holds no span. With a span, the
        # context is read again rather than kept in a local: a store less on the common path.
        if found is None and _otel_get():
            return _from_opentelemetry(_otel_get())
        return found


# For a hot path that cannot afford current_exemplar()'s own call (collector records): the
# expression ``read_trace() or (read_otel_context() and current_exemplar())`` is truthy
# exactly when current_exemplar() is, and then is its value; with no trace it is two C calls.
read_trace = _trace
# OpenTelemetry's current context, falsy when it holds no span; ``bool()`` (False) without it.
read_otel_context: Callable[[], Any] = bool if _otel_context is None else _otel_context


def _from_opentelemetry(context: Any) -> TraceExemplar | None:
    span = _get_current_span(context).get_span_context()
    if not span.is_valid or not span.trace_flags.sampled:
        return None
    return {"trace_id": format(span.trace_id, "032x"), "span_id": format(span.span_id, "016x")}


def exemplar_observer(child: Histogram) -> Observe:
    """``observe(amount, exemplar)`` for one bound histogram child: ``exemplar`` None is a
    plain ``child.observe(amount)``; otherwise the observation also sets that exemplar on
    the bucket it was counted in.

    prometheus-client's own ``observe(amount, exemplar)`` validates the labels on every
    call (a regex per name) and stores the exemplar under the bucket's lock: ~1.4 us added
    a record here. Exemplars from this module are valid by construction (two fixed names,
    63 characters of the 128 allowed), so this writes the child's values itself, as
    ``observe`` does but with one bisect for both the bucket and its exemplar: the sum and
    the bucket each under its own value's lock (so other writers of the child, through its
    own ``observe``, stay serialized with it); an exemplar costs less than ``observe``
    alone (tests/kit/test_exemplars.py checks the exposition is the same as
    prometheus-client's own). In multiprocess mode the values keep no exemplars, so none
    are made; a child of another shape (a future prometheus-client) gets the public path.
    """
    observe = child.observe
    bounds: Any = getattr(child, "_upper_bounds", None)
    if not _bucket_shaped(bounds, getattr(child, "_buckets", None)):
        return observe
    values = plain_values(child)  # (sum, *buckets)
    if values is None:  # multiprocess mode: its values keep no exemplars

        def observe_without_exemplar(amount: float, exemplar: TraceExemplar | None = None) -> None:
            observe(amount)

        return observe_without_exemplar
    total_sum, buckets, now, new = values[0], values[1:], time.time, tuple.__new__

    def observe_with_exemplar(amount: float, exemplar: TraceExemplar | None = None) -> None:
        if amount != amount:  # NaN: in the sum alone, as observe() counts it
            observe(amount)
            return
        # The bucket observe() counts it in: the first whose upper bound is >= amount.
        bucket = buckets[bisect_left(bounds, amount)]
        with total_sum._lock:
            total_sum._value += amount
        with bucket._lock:
            bucket._value += 1
            if exemplar:
                bucket._exemplar = new(Exemplar, (exemplar, amount, now()))

    return observe_with_exemplar


def _bucket_shaped(bounds: Any, buckets: Any) -> bool:
    return (
        isinstance(bounds, list | tuple)
        and isinstance(buckets, list)
        and len(bounds) == len(buckets) > 0
        and bounds[-1] == float("inf")
    )
