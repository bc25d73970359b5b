"""The expense service the monitoring kit watches: PostgreSQL, caches, a job queue, a JSON API.

It uses the kit only through ``exporter``'s public API; the kit never imports it.
"""

from importlib.metadata import PackageNotFoundError, version

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
