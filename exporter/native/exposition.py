"""Choosing the encoder for a scrape: protobuf when the scraper prefers it, else what
prometheus-client's ``choose_encoder`` picks (OpenMetrics or text, its escaping rules).

Drop-in for ``choose_encoder``: ``encoder, content_type = choose_native_encoder(accept)``.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from .encoder import CONTENT_TYPE, generate_protobuf
from .negotiation import Format, negotiate

Encoder = Callable[[Collector], bytes]


def choose_native_encoder(accept: str | None) -> tuple[Encoder, str]:
    """The encoder for ``accept`` and its content type."""
    if negotiate(accept) is Format.PROTOBUF:
        return generate_protobuf, CONTENT_TYPE
    return choose_encoder(accept or "")


def render(registry: Collector, accept: str | None) -> tuple[bytes, str]:
    """``registry`` in the format ``accept`` asks for; the body and its content type."""
    encoder, content_type = choose_native_encoder(accept)
    return encoder(registry), content_type
