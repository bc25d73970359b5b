"""The expense service the monitoring kit watches: PostgreSQL, caches, a job queue, a JSON API.

It uses the kit only through ``exporter``'s public API; the kit never imports it.
"""

import sys
from importlib.metadata import PackageNotFoundError, version

# httpx's package imports its command line (rich, pygments, click) whenever those happen to
# be installed, as in a development venv: ~70 modules and 3-4 MB that a serving process
# has no use for. A None in sys.modules makes that one import fail, and httpx then does
# without its command line, as it does where they are not installed (the image).
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

try:
    __version__ = version("aiexpense-service")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

from .domain.errors import InvalidField, JobQueueClosed, JobQueueFull, NotFound, ServiceError
from .domain.models import CurrencyTotals, Expense, Summary, User
from .jobs import JobQueue
from .service import CacheConfig, ExpenseService

__all__ = [
    "CacheConfig",
    "CurrencyTotals",
    "Expense",
    "ExpenseService",
    "InvalidField",
    "JobQueue",
    "JobQueueClosed",
    "JobQueueFull",
    "NotFound",
    "ServiceError",
    "Summary",
    "User",
    "__version__",
]
