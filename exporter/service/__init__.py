"""The expense service the monitoring kit watches: PostgreSQL, caches, a job queue, a JSON API.

It uses the kit only through ``exporter``'s public API; the kit never imports it.
"""

from .errors import InvalidField, JobQueueClosed, JobQueueFull, NotFound, ServiceError
from .jobs import JobQueue
from .models import CurrencyTotals, Expense, Summary, User
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
]
