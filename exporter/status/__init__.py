"""The status page at ``/monitoring/``: one ``snapshot`` of the JSON views, rendered
server-side (``render``) with inline ``assets`` under a strict CSP, served by ``page``."""

from .page import StatusPage, prefers_html
from .snapshot import Snapshot

__all__ = ["Snapshot", "StatusPage", "prefers_html"]
