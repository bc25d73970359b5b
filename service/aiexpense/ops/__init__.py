"""The service's own operations assets, beside what the kit's generator writes from
``service/monitoring.toml``: rules, proven alerts, dashboard rows and runbook text for the
parts only this service has (caches kept true by LISTEN/NOTIFY, the job queue, the reply
outbox, refused credentials, operation latency percentiles, the canary).

    exporter-assets service/monitoring.toml -o . --extension aiexpense.ops:EXTENSIONS

(``make assets``). Only the generator imports this package, so it may use the kit's
``exporter.assets`` model (no extra needed for it); nothing else in the service imports it.
"""

from __future__ import annotations

from exporter.assets import Extension

from .auth import AUTH
from .caches import CACHES
from .canary import CANARY
from .general import GENERAL
from .latency import LATENCY
from .queue import QUEUE
from .replies import REPLIES

EXTENSIONS: tuple[Extension, ...] = (LATENCY, CACHES, QUEUE, REPLIES, AUTH, CANARY, GENERAL)

__all__ = ["EXTENSIONS"]
