"""Native histograms and the Prometheus protobuf exposition (issue 22, phase 1).

Pieces, one module each: :mod:`.schema` (bucket index math), :mod:`.histogram` (a live,
cheap-to-observe histogram), :mod:`.state` (an immutable, mergeable snapshot),
:mod:`.spans` (spans and deltas), :mod:`.wire` (protobuf primitives, pinned field numbers),
:mod:`.encoder` (registry -> protobuf exposition), :mod:`.family` (how a collector hands
native histograms to the encoder), :mod:`.collector` (a labelled family as a collector),
:mod:`.negotiation` and :mod:`.exposition` (which format a scrape gets), :mod:`.bench`.
"""

from .collector import NativeHistogramCollector
from .encoder import CONTENT_TYPE, generate_protobuf, native_histogram
from .exposition import choose_native_encoder, render
from .family import NativeCarrier, NativeHistogramFamily, NativeSeries
from .histogram import NativeHistogram, NativeOptions
from .negotiation import Format, negotiate
from .schema import DEFAULT_ZERO_THRESHOLD, bucket_key, lower_bound, pick_schema, upper_bound
from .state import NativeState

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_ZERO_THRESHOLD",
    "Format",
    "NativeCarrier",
    "NativeHistogram",
    "NativeHistogramCollector",
    "NativeHistogramFamily",
    "NativeOptions",
    "NativeSeries",
    "NativeState",
    "bucket_key",
    "choose_native_encoder",
    "generate_protobuf",
    "lower_bound",
    "native_histogram",
    "negotiate",
    "pick_schema",
    "render",
    "upper_bound",
]
