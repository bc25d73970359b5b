"""ExpenseService: users, expenses and categories on PostgreSQL, behind caches, every
operation timed under its catalog name.

    service = ExpenseService(pool, collector, settings)
    await service.start()              # migrations, cache listener, job and reply workers
    user = await service.auto_signup("line", "U123", display_name="Amy")
    expense = await service.create_expense(user.id, Decimal("120"), category="food",
                                           platform="line", message_id="m-1")
    await service.outbox.enqueue("line", url, payload, headers)   # a durable reply
    await service.stop()               # drains the job queue and the replies being sent

Several replicas share one database (``docs/replicas.md``): writes invalidate every
replica's caches through :mod:`.invalidation`; replies live in :mod:`.outbox`.

Mistakes of the caller raise :class:`~aiexpense.domain.errors.ServiceError` subclasses
that name the field; they are recorded as successful operations (see ``errors.py``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from decimal import Decimal
from time import perf_counter
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from aiexpense.domain.operations import Op
from exporter import Recorder

from .domain import tokens
from .domain import validation as v
from .domain.errors import InvalidField, NotFound, ServiceError
from .domain.models import Expense, Summary, User
from .jobs import JobQueue
from .store.cache import MISSING, Caches
from .store.credentials import Credentials
from .store.db import Database
from .store.inserts import ExpenseInserts
from .store.invalidation import CacheListener, RowPatch
from .store.migrations import migrate_connection
from .store.outbox import ReplyOutbox
from .store.repository import Repository
from .text.lexicon import FALLBACK_SLUG, Category
from .text.suggest import Suggestion, suggest_category

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    from aiexpense.config import Settings

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

# Rows of a person's recent expenses kept in the cache: the default page of get_expenses.
RECENT_ROWS = v.DEFAULT_LIMIT
SUMMARY_DAYS = 30  # get_metrics' period when none is given: the last 30 days
ANSWER_GRACE = 0.5  # seconds past the server's statement_timeout before we give up on it


def _fingerprint(fields: list[Any]) -> bytes:
    """The SHA-256 of a request's fields, what an idempotent retry must repeat."""
    return hashlib.sha256(json.dumps(fields, default=str).encode()).digest()


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """(max entries, seconds to live) of each cache."""

    users: tuple[int, float] = (10_000, 600.0)  # users never change once created
    categories: tuple[int, float] = (4, 300.0)  # one entry: the whole list
    # Writes anywhere invalidate it (LISTEN/NOTIFY); the TTL only bounds memory use: a
    # person no longer asking lets go of their expenses within 10 s, one asking all along
    # costs a query every 10 s.
    expenses: tuple[int, float] = (2_000, 10.0)
    # user id -> digest of their API token (or that they have none). Rotations anywhere
    # invalidate it (LISTEN/NOTIFY, migration 9); see store.credentials.
    tokens: tuple[int, float] = (10_000, 600.0)


Method = Callable[Concatenate["ExpenseService", P], Awaitable[R]]


def operation(name: str) -> Callable[[Method[P, R]], Method[P, R]]:
    """Time an async method as operation ``name``; a ServiceError counts as success (the
    caller's mistake, answered correctly, must not page anyone), as does a cancellation
    (nothing failed): what ``collector.time(name, expected=ServiceError)`` records, timed
    inline because the ``with`` form costs half as much again (docs/kit.md, "What it costs")."""

    def decorate(method: Method[P, R]) -> Method[P, R]:
        @functools.wraps(method)
        async def timed(self: ExpenseService, /, *args: P.args, **kwargs: P.kwargs) -> R:
            started = perf_counter()
            try:
                result = await method(self, *args, **kwargs)
            except BaseException as exc:  # (a flag, not the exception: no frame cycle)
                failed = isinstance(exc, Exception) and not isinstance(exc, ServiceError)
                self.collector.record_operation(name, perf_counter() - started, failed)
                raise
            self.collector.record_operation(name, perf_counter() - started)
            return result

        return timed

    return decorate


class ExpenseService:
    """The expense service. All methods run on one event loop; none of them blocks it."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        collector: Recorder,
        settings: Settings,
        *,
        cache_config: CacheConfig | None = None,
    ) -> None:
        cache_config = cache_config or CacheConfig()
        self.collector = collector
        self.settings = settings
        self.default_currency = v.currency(settings.default_currency)
        # Statements the server has not answered just after its own statement_timeout fail
        # on our side too (a stopped server never answers); see db.py.
        self.db = Database(
            pool, collector, answer_timeout=settings.statement_timeout_seconds + ANSWER_GRACE
        )
        self.repo = Repository(self.db)
        self.inserts = ExpenseInserts(self.repo)
        self.caches = Caches(
            collector,
            {
                "users": cache_config.users,
                "categories": cache_config.categories,
                "expenses": cache_config.expenses,
                "tokens": cache_config.tokens,
            },
        )
        self._users = self.caches["users"]
        self._categories = self.caches["categories"]
        self._recent = self.caches["expenses"]
        self.credentials = Credentials(
            self.repo, self.caches["tokens"], coherent=lambda: self.caches.coherent
        )
        self.jobs = JobQueue(
            collector,
            workers=settings.job_workers,
            capacity=settings.job_queue_size,
            drain_seconds=settings.job_drain_seconds,
        )
        assert isinstance(pool.conninfo, str)  # the app builds its pool from a conninfo string
        self.listener = CacheListener(
            pool.conninfo,
            self.caches,
            collector,
            heartbeat_seconds=settings.cache_heartbeat_seconds,
            # another process's new expense: one row read into the page, not the page again
            patches={"expenses": RowPatch(self.repo.expense_by_id, with_expense)},
        )
        self.db.own_writes = self.listener.own_writes  # see _insert
        self.outbox = ReplyOutbox(
            self.db,
            collector,
            count=self.jobs.count,
            secrets=_secrets(settings),
            workers=settings.reply_workers,
            lease_seconds=settings.reply_lease_seconds,
            max_attempts=settings.reply_max_attempts,
            poll_seconds=settings.reply_poll_seconds,
            drain_seconds=settings.job_drain_seconds,
            timeout=settings.webhooks.reply_timeout_seconds,
            retention_days=settings.delivery_retention_days,
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, migrate: bool = True) -> None:
        """Listen for cache invalidations and start the job workers; migrate the schema
        (which starts the reply workers too) now, or, with ``migrate=False``, when the
        caller runs :meth:`prepare` once the database answers (the app does, see
        ``db_startup``: then nothing here waits for the database).
        """
        await self.listener.start(wait=5.0 if migrate else 0.0)
        if migrate:
            async with self.db.pool.connection() as conn:
                await self.prepare(conn)
        await self.jobs.start()

    async def prepare(self, conn: AsyncConnection) -> None:
        """Migrate the schema on ``conn``; from then on :attr:`migrated` is True, statements
        run and the reply workers claim replies. Then warm the category cache (a failure
        there is not fatal)."""
        await migrate_connection(conn)
        self.db.schema_ready = True
        await self.outbox.start()
        await self.listener.listening(5.0)  # the caches hold nothing until it listens
        try:
            await self._category_index()
        except Exception as exc:  # loaded on first use instead
            log.warning("category cache not warmed: %s", exc)

    @property
    def migrated(self) -> bool:
        """Have the migrations run? Until then every database operation answers 503."""
        return self.db.schema_ready

    async def stop(self) -> list[str]:
        """Drain the replies being sent and the job queue (see :meth:`ReplyOutbox.stop`,
        :meth:`JobQueue.stop`); return the ids left undone or put back."""
        left = await self.outbox.stop()
        left += await self.jobs.stop()
        await self.listener.stop()
        return left

    def system_extras(self) -> dict[str, Any]:
        """Fields for ``/monitoring/system``: in-memory counters only, no I/O."""
        return {
            "cache_hit_rate": round(self.caches.hit_rate(), 2),
            "job_queue_depth": self.jobs.depth,
            "reply_outbox_due": self.outbox.due,
        }

    # -- users -----------------------------------------------------------------------------

    @operation(Op.AUTO_SIGNUP)
    async def auto_signup(
        self,
        platform: str,
        external_id: str,
        *,
        display_name: str | None = None,
        currency: str | None = None,
    ) -> User:
        """The user for (platform, external_id), created on first sight.

        Safe under concurrency: the INSERT skips on conflict and the loser reads the
        winner's row, so any number of simultaneous sign-ups of one person make one row.
        ``user.created`` tells whether this call created it.
        """
        platform = v.check("platform", v.platform, platform)
        external_id = v.check("external_id", v.external_id, external_id)
        key = ("ext", platform, external_id)
        user = self._users.get(key)
        if user is not MISSING:
            return cast(User, user)
        if display_name is not None:
            display_name = v.check("display_name", v.display_name, display_name) or None
        code = v.check("currency", v.currency, currency) if currency else self.default_currency
        user = await self.repo.insert_user(platform, external_id, display_name, code)
        if user is None:
            user = await self.repo.user_by_external_id(platform, external_id)
            if user is None:  # users are never deleted, so the conflicting row is there
                raise RuntimeError(f"user {platform}:{external_id} conflicted but is missing")
        cached = replace(user, created=False)
        self._users.set(key, cached)
        self._users.set(("id", user.id), cached)
        return user

    @operation(Op.USER_EXISTS)
    async def user_exists(self, platform: str, external_id: str) -> bool:
        platform = v.check("platform", v.platform, platform)
        external_id = v.check("external_id", v.external_id, external_id)
        user = await self._users.get_or_load(
            ("ext", platform, external_id),
            lambda: self.repo.user_by_external_id(platform, external_id),
        )
        return user is not None

    @operation(Op.GET_USER)
    async def get_user(self, user_id: int) -> User | None:
        return await self._user(v.check("user_id", v.positive_id, user_id))

    async def _user(self, user_id: int) -> User | None:
        # Internal lookups go through the cache but are not timed as get_user: an
        # operation's count should be the number of times callers asked for it.
        return await self._users.get_or_load(("id", user_id), lambda: self.repo.user_by_id(user_id))

    async def _require_user(self, user_id: int) -> User:
        user = await self._user(user_id)
        if user is None:
            raise NotFound("user_id", f"no user with id {user_id}")
        return user

    # -- API tokens ------------------------------------------------------------------------

    async def issue_token(self, user_id: int, *, replace: bool = True) -> str | None:
        """A new API token for the person, shown to the caller once; only its SHA-256 is
        stored. ``replace``: the previous token stops working, in other processes as soon as
        PostgreSQL's announcement reaches them (``store.credentials``). Without ``replace``
        a token is issued only if the person has none yet (sign-up: concurrent sign-ups of
        one person hand out one token): else None.
        """
        user = await self._require_user(v.check("user_id", v.positive_id, user_id))
        if not replace and await self.credentials.stored(user.id) is not None:
            return None  # the common case of a repeated sign-up: no write
        token = tokens.new_token(user.id)
        sha256 = tokens.digest(token)
        # In a transaction of its own: a write left unanswered (a database frozen, then
        # thawed) is answered 503 and must not land afterwards, replacing the token the
        # caller still holds by one nobody was shown. COMMIT goes out only once the write
        # has answered, so a write given up on is rolled back when its connection closes.
        async with self.db.transaction() as tx:
            stored = await Repository(tx).store_token(user.id, sha256, replace=replace)
        if not stored:
            return None
        self.credentials.issued(user.id, sha256)
        return token

    # -- expenses --------------------------------------------------------------------------

    @operation(Op.CREATE_EXPENSE)
    async def create_expense(
        self,
        user_id: int,
        amount: Decimal | int | str,
        *,
        currency: str | None = None,
        category: str | None = None,
        description: str = "",
        spent_on: date | str | None = None,
        platform: str = "api",
        message_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Expense:
        """Record an expense; ``currency`` defaults to the user's, ``category`` to the one
        :meth:`suggest_category` finds for the description ("other" without one),
        ``spent_on`` to today (server time).

        With ``message_id`` the call is idempotent per (platform, message_id): a repeat
        returns the first call's expense with ``created=False`` and inserts nothing.
        With ``idempotency_key`` (per user, kept a day) likewise: a repeat with the same
        fields returns the expense as it was first created, ``created=False``; the same key
        with different fields is refused (field ``Idempotency-Key``).
        """
        user = await self._require_user(v.check("user_id", v.positive_id, user_id))
        key = None
        if idempotency_key is not None:
            key = v.check("Idempotency-Key", v.idempotency_key, idempotency_key)
        code = v.check("currency", v.currency, currency) if currency is not None else user.currency
        value = v.check("amount", v.amount, amount)
        value = v.check("amount", lambda x: v.in_currency(x, code), value)
        text = v.check("description", v.description, description)
        # What the caller asked for, before any default (today, a suggestion) is filled in:
        # a retry after midnight, or after the person's history changed, is the same request.
        asked = [user.id, str(value), currency and code, category, text, spent_on]
        if category is None and text:
            category = (await self.suggest_category(user.id, text)).category
        slug = await self._known_category(FALLBACK_SLUG if category is None else category)
        day = date.today() if spent_on is None else v.check("spent_on", v.day, spent_on)
        source = v.check("platform", v.platform, platform)
        if message_id is not None:
            message_id = v.check("message_id", v.message_id, message_id)
        row = (user.id, value, code, slug, text, day, source, message_id)
        if key is not None:
            once = await self._create_once(user.id, key, _fingerprint(asked), row)
            if once.created:
                self._recent.invalidate(user.id)
            return once
        expense = await self._insert(row)
        if expense is None:  # (platform, message_id) seen before: hand back that expense
            assert message_id is not None
            expense = await self.repo.expense_by_message(source, message_id)
            if expense is None:  # recorded, then deleted meanwhile: record it again
                expense = await self._insert(row)
            if expense is None:
                raise RuntimeError(f"message {source}:{message_id} neither new nor found")
        return expense

    async def _insert(self, row: tuple[Any, ...]) -> Expense | None:
        """Insert ``row``; a new expense goes into the person's cached recent rows at once
        (its announcement is this process's own: the listener skips it, see
        ``store.invalidation``)."""
        user_id = row[0]
        try:
            if row[7] is None:  # no message id: with other requests' (see store.inserts)
                expense: Expense | None = await self.inserts.insert(row)
            else:
                expense = await self.repo.insert_expense(*row)
        except BaseException:
            # It may have committed unseen (a severed answer), its echo skipped: drop.
            self._recent.invalidate(user_id)
            raise
        if expense is not None:
            stored = replace(expense, created=False)
            self._recent.revise(user_id, lambda recent: with_expense(recent, stored))
        return expense

    async def _create_once(
        self, user_id: int, key: str, fingerprint: bytes, row: tuple[Any, ...]
    ) -> Expense:
        """Insert ``row`` and record ``key`` in one transaction, or replay the key's first
        expense. A concurrent request with the same key waits on the key's primary key
        until this transaction ends, so two retries can never both insert."""
        async with self.db.transaction() as tx:
            repo = Repository(tx)
            if not await repo.claim_key(user_id, key, fingerprint):
                first_fingerprint, first = await repo.claimed_key(user_id, key)
                if first_fingerprint != fingerprint:
                    raise InvalidField(
                        "Idempotency-Key",
                        "this key was already used with a different request body; a retry"
                        " must repeat the request exactly, a new request needs a new key",
                    )
                return first
            return await repo.insert_expense_with_key(key, row)

    @operation(Op.GET_EXPENSES)
    async def get_expenses(self, user_id: int, limit: int = v.DEFAULT_LIMIT) -> list[Expense]:
        """A person's latest ``limit`` expenses (1..1000), newest ``spent_on`` first."""
        user_id = v.check("user_id", v.positive_id, user_id)
        limit = v.check("limit", v.limit, limit)
        if limit <= RECENT_ROWS:
            recent = await self._recent.get_or_load(user_id, lambda: self._load_recent(user_id))
            return list(recent[:limit])
        recent = self._recent.get(user_id)
        if recent is not MISSING and len(recent) < RECENT_ROWS:
            return list(recent)  # the cached rows are the whole history
        await self._require_user(user_id)
        return await self.repo.latest_expenses(user_id, limit)

    async def category_history(self, user_id: int) -> dict[str, str]:
        """description -> category slug of a person's recent expenses, what
        ``suggest_category`` learns from; the newest filing of a description wins.

        Read from the cached recent rows (the cache ``get_expenses`` fills; every write
        invalidates it, so a correction counts at once). Not an operation of its own.
        Expenses left in the fallback category are skipped: "other" was our guess, not a
        choice the person made, and learning it would shadow the lexicon.
        """
        user_id = v.check("user_id", v.positive_id, user_id)
        recent = await self._recent.get_or_load(user_id, lambda: self._load_recent(user_id))
        return {
            e.description: e.category
            for e in reversed(recent)  # oldest first, so newer filings overwrite older ones
            if e.description and e.category != FALLBACK_SLUG
        }

    @operation(Op.SUGGEST_CATEGORY)
    async def suggest_category(self, user_id: int, description: str) -> Suggestion:
        """The category a person most likely means: their own history first, then the
        keyword lexicon (someone who filed "Uber" under transport gets transport again)."""
        return suggest_category(description, await self.category_history(user_id))

    async def _load_recent(self, user_id: int) -> tuple[Expense, ...]:
        await self._require_user(user_id)
        return tuple(await self.repo.latest_expenses(user_id, RECENT_ROWS))

    @operation(Op.GET_EXPENSES_BY_DATE_RANGE)
    async def get_expenses_by_date_range(
        self, user_id: int, start: date | str, end: date | str, limit: int = v.MAX_LIMIT
    ) -> list[Expense]:
        """Expenses with ``start <= spent_on <= end``, newest first, at most ``limit``."""
        user_id = v.check("user_id", v.positive_id, user_id)
        start, end = self._period(start, end)
        limit = v.check("limit", v.limit, limit)
        await self._require_user(user_id)
        return await self.repo.expenses_between(user_id, start, end, limit)

    @operation(Op.UPDATE_EXPENSE)
    async def update_expense(
        self,
        expense_id: int,
        *,
        user_id: int | None = None,
        amount: Decimal | int | str | None = None,
        currency: str | None = None,
        category: str | None = None,
        description: str | None = None,
        spent_on: date | str | None = None,
    ) -> Expense:
        """Change the given fields (None keeps a field). With ``user_id`` the expense must
        be that person's. An amount must be exact in the (new) currency."""
        expense_id = v.check("expense_id", v.positive_id, expense_id)
        if user_id is not None:
            user_id = v.check("user_id", v.positive_id, user_id)
        changes: dict[str, Any] = {
            "amount": None if amount is None else v.check("amount", v.amount, amount),
            "currency": None if currency is None else v.check("currency", v.currency, currency),
            "category": None if category is None else await self._known_category(category),
            "description": None
            if description is None
            else v.check("description", v.description, description),
            "spent_on": None if spent_on is None else v.check("spent_on", v.day, spent_on),
        }
        if all(value is None for value in changes.values()):
            raise InvalidField("body", "nothing to change: give at least one field")
        if changes["amount"] is not None and changes["currency"] is not None:
            changes["amount"] = v.check(
                "amount", lambda x: v.in_currency(x, changes["currency"]), changes["amount"]
            )
        expense = await self.repo.update_expense(expense_id, user_id, **changes)
        if expense is None:
            raise await self._why_not_updated(expense_id, user_id, changes)
        self._recent.invalidate(expense.user_id)
        return expense

    async def _why_not_updated(
        self, expense_id: int, user_id: int | None, changes: dict[str, Any]
    ) -> ServiceError:
        """The UPDATE matched nothing: either no such expense, or an inexact amount."""
        current = await self.repo.expense_by_id(expense_id, user_id)
        if current is None:
            return NotFound("expense_id", f"no expense with id {expense_id}")
        field = "amount" if changes["amount"] is not None else "currency"
        code = changes["currency"] or current.currency
        value = changes["amount"] or current.amount
        try:
            v.in_currency(value, code)
        except ValueError as exc:
            return InvalidField(field, str(exc))
        return InvalidField(field, f"{value} cannot be written exactly in {code}")

    @operation(Op.DELETE_EXPENSE)
    async def delete_expense(self, expense_id: int, *, user_id: int | None = None) -> Expense:
        """Delete an expense (with ``user_id``: only if it is theirs); return what it was."""
        expense_id = v.check("expense_id", v.positive_id, expense_id)
        if user_id is not None:
            user_id = v.check("user_id", v.positive_id, user_id)
        expense = await self.repo.delete_expense(expense_id, user_id)
        if expense is None:
            raise NotFound("expense_id", f"no expense with id {expense_id}")
        self._recent.invalidate(expense.user_id)
        return expense

    async def expenses_of_message(
        self, user_id: int, platform: str, message_id: str
    ) -> list[Expense]:
        """What ``user_id`` recorded from one chat message (all its items, in order): what
        an edit of that message updates."""
        return await self.repo.expenses_by_source(platform, message_id, user_id)

    @operation(Op.DELETE_EXPENSE)
    async def delete_expenses_of_message(
        self, platform: str, external_id: str, message_id: str
    ) -> list[Expense]:
        """Delete what the sender recorded from one chat message (an unsend); return it.
        Signs nobody up: an unknown sender or message deletes nothing."""
        deleted = await self.repo.delete_by_source(platform, message_id, external_id)
        for user_id in {e.user_id for e in deleted}:
            self._recent.invalidate(user_id)
        return deleted

    @operation(Op.GET_METRICS)
    async def get_metrics(
        self, user_id: int, start: date | str | None = None, end: date | str | None = None
    ) -> Summary:
        """Totals by currency, category and day over ``start..end`` (both included).

        Defaults: ``end`` today, ``start`` 29 days before ``end`` (30 days in all).
        Sums are exact (NUMERIC in PostgreSQL, Decimal here).
        """
        user_id = v.check("user_id", v.positive_id, user_id)
        end = date.today() if end is None else v.check("to", v.day, end)
        if start is None:
            start = max(end - timedelta(days=SUMMARY_DAYS - 1), v.MIN_DATE)
        start, end = self._period(start, end)
        await self._require_user(user_id)
        return await self.repo.summary(user_id, start, end)

    @staticmethod
    def _period(start: date | str, end: date | str) -> tuple[date, date]:
        start, end = v.check("from", v.day, start), v.check("to", v.day, end)
        if start > end:
            raise InvalidField("from", f"from ({start}) is after to ({end})")
        return start, end

    # -- categories ------------------------------------------------------------------------

    @operation(Op.CATEGORY_LOOKUP)
    async def category_lookup(self, slug: str) -> Category | None:
        """The category with this slug, or None."""
        return (await self._category_index()).get(v.check("category", v.slug, slug))

    @operation(Op.LIST_CATEGORIES)
    async def list_categories(self) -> list[Category]:
        """Every category, in display order."""
        return list((await self._category_index()).values())

    async def _category_index(self) -> dict[str, Category]:
        return await self._categories.get_or_load("all", self._load_categories)

    async def _load_categories(self) -> dict[str, Category]:
        return {c.slug: c for c in await self.repo.categories()}

    async def _known_category(self, slug: str) -> str:
        slug = v.check("category", v.slug, slug)
        index = await self._category_index()
        if slug not in index:
            raise InvalidField("category", f"unknown category {slug!r}; one of: {', '.join(index)}")
        return slug


def with_expense(recent: tuple[Expense, ...], new: Expense) -> tuple[Expense, ...]:
    """A person's cached recent rows (newest ``spent_on`` first, then highest id: the
    order of ``latest_expenses``) with ``new`` in its place, still at most RECENT_ROWS:
    what a reload would read. Unchanged when ``new`` is there already (a reload saw it) or
    falls past a full page's last row."""
    order = (new.spent_on, new.id)
    at = len(recent)
    for i, e in enumerate(recent):
        if e.id == new.id:
            return recent
        if (e.spent_on, e.id) < order:
            at = i
            break
    if at >= RECENT_ROWS:
        return recent
    return (*recent[:at], new, *recent[at:])[:RECENT_ROWS]


def _secrets(settings: Settings) -> dict[str, str]:
    """The configured webhook credentials by field name: never stored with a reply."""
    hooks = settings.webhooks
    return {
        f.name: value for f in fields(hooks) if not f.repr and (value := getattr(hooks, f.name))
    }
