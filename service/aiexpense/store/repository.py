"""The SQL: one method per statement, rows turned into records. No caching, no rules.

Each method sends exactly one statement through :class:`~aiexpense.store.db.Database`,
which times it as ``db_query``/``db_insert``/``db_update``/``db_delete``. Statements are
static strings, so psycopg prepares each one server-side after a few uses per connection.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, LiteralString

from aiexpense.domain.operations import Op

from ..domain.models import CurrencyTotals, Expense, Summary, User
from ..text.lexicon import Category
from .db import Statements
from .invalidation import announcement

USER_COLUMNS: LiteralString = "id, platform, external_id, display_name, currency, created_at"
EXPENSE_COLUMNS: LiteralString = (
    "id, user_id, amount, currency, category, description, spent_on, platform, message_id,"
    " created_at"
)

_INSERT_USER: LiteralString = f"""
    INSERT INTO users (platform, external_id, display_name, currency) VALUES (%s, %s, %s, %s)
    ON CONFLICT (platform, external_id) DO NOTHING
    RETURNING {USER_COLUMNS}
"""
_USER_BY_EXTERNAL_ID: LiteralString = (
    f"SELECT {USER_COLUMNS} FROM users WHERE platform = %s AND external_id = %s"
)
_USER_BY_ID: LiteralString = f"SELECT {USER_COLUMNS} FROM users WHERE id = %s"

_INSERT_EXPENSE: LiteralString = f"""
    INSERT INTO expenses
        (user_id, amount, currency, category, description, spent_on, platform, message_id)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (platform, message_id) DO NOTHING
    RETURNING {EXPENSE_COLUMNS}
"""
# Several new expenses with no message id (so none can conflict) in one statement: one
# commit, one announcement per row on the rows channel (migration 10), for
# ``store.inserts``.
_INSERT_EXPENSES: LiteralString = f"""
    INSERT INTO expenses
        (user_id, amount, currency, category, description, spent_on, platform, message_id)
    SELECT * FROM unnest(%s::bigint[], %s::numeric[], %s::char(3)[], %s::text[], %s::text[],
                         %s::date[], %s::text[], %s::text[])
    RETURNING {EXPENSE_COLUMNS}
"""
_EXPENSE_BY_MESSAGE: LiteralString = (
    f"SELECT {EXPENSE_COLUMNS} FROM expenses WHERE platform = %s AND message_id = %s"
)
# Every item recorded from one chat message (see migration 5), in item order.
_EXPENSES_BY_SOURCE: LiteralString = f"""
    SELECT {EXPENSE_COLUMNS} FROM expenses
    WHERE platform = %s AND source_message = %s AND user_id = %s
    ORDER BY length(message_id), message_id
"""
_DELETE_BY_SOURCE: LiteralString = f"""
    DELETE FROM expenses
    WHERE platform = %s AND source_message = %s
      AND user_id = (SELECT id FROM users WHERE platform = %s AND external_id = %s)
    RETURNING {EXPENSE_COLUMNS}
"""
_LATEST_EXPENSES: LiteralString = f"""
    SELECT {EXPENSE_COLUMNS} FROM expenses WHERE user_id = %s
    ORDER BY spent_on DESC, id DESC LIMIT %s
"""
_EXPENSES_BETWEEN: LiteralString = f"""
    SELECT {EXPENSE_COLUMNS} FROM expenses
    WHERE user_id = %s AND spent_on BETWEEN %s AND %s
    ORDER BY spent_on DESC, id DESC LIMIT %s
"""
# One statement for every combination of changes: NULL means "keep". The amount is
# re-rounded to the (possibly new) currency's exponent, and the row is only updated when
# that rounding is exact, so 12.50 USD can never silently become 13 JPY.
_UPDATE_EXPENSE: LiteralString = f"""
    WITH new AS (
        SELECT e.id,
               coalesce(%(amount)s::numeric, e.amount) AS amount,
               c.code AS currency, c.minor_units
        FROM expenses e
        JOIN currencies c ON c.code = coalesce(%(currency)s::char(3), e.currency)
        WHERE e.id = %(id)s AND (%(user_id)s::bigint IS NULL OR e.user_id = %(user_id)s)
    )
    UPDATE expenses e SET
        amount = round(new.amount, new.minor_units),
        currency = new.currency,
        category = coalesce(%(category)s, e.category),
        description = coalesce(%(description)s, e.description),
        spent_on = coalesce(%(spent_on)s::date, e.spent_on)
    FROM new
    WHERE e.id = new.id AND new.amount = round(new.amount, new.minor_units)
    RETURNING {", ".join("e." + c for c in EXPENSE_COLUMNS.split(", "))}
"""
_EXPENSE_BY_ID: LiteralString = f"""
    SELECT {EXPENSE_COLUMNS} FROM expenses
    WHERE id = %s AND (%s::bigint IS NULL OR user_id = %s)
"""
_DELETE_EXPENSE: LiteralString = f"""
    DELETE FROM expenses WHERE id = %s AND (%s::bigint IS NULL OR user_id = %s)
    RETURNING {EXPENSE_COLUMNS}
"""
# Totals per currency, per (currency, category) and per (currency, day) in one pass;
# GROUPING() tells the three kinds of row apart (bit 1: category rolled up, bit 0: day).
_SUMMARY: LiteralString = """
    SELECT currency, category, spent_on, sum(amount), count(*), GROUPING(category, spent_on)
    FROM expenses
    WHERE user_id = %s AND spent_on BETWEEN %s AND %s
    GROUP BY GROUPING SETS ((currency), (currency, category), (currency, spent_on))
    ORDER BY currency, sum(amount) DESC, category, spent_on
"""
_CATEGORIES: LiteralString = "SELECT slug, name, keywords FROM categories ORDER BY position, slug"

# API tokens: one a person; "first" stores one only if the person has none yet (sign-up),
# "replace" swaps it (rotation: the old token stops working at once).
_FIRST_TOKEN: LiteralString = """
    INSERT INTO api_tokens (user_id, sha256) VALUES (%s, %s)
    ON CONFLICT (user_id) DO NOTHING
    RETURNING created_at
"""
_REPLACE_TOKEN: LiteralString = """
    INSERT INTO api_tokens (user_id, sha256) VALUES (%s, %s)
    ON CONFLICT (user_id) DO UPDATE SET sha256 = EXCLUDED.sha256, created_at = now()
    RETURNING created_at
"""
_TOKEN_DIGEST: LiteralString = "SELECT sha256 FROM api_tokens WHERE user_id = %s"
# The highest user id holding a token (the primary key's index: one step from its end).
_TOKEN_HOLDER_MAX: LiteralString = "SELECT COALESCE(max(user_id), 0) FROM api_tokens"

# Idempotency keys (inside the transaction that creates the expense): two statements
# besides BEGIN and COMMIT. Claiming a key a concurrent transaction has claimed but not
# committed waits on the primary key until that one ends; then it either finds the key
# taken (and reads the first expense) or, if the other rolled back, claims it. An expired
# key (over a day old) is claimed afresh. The claim also deletes up to ten other expired
# keys, so the table holds about a day of keys with no background job (SKIP LOCKED: two
# sweeps never wait for each other).
KEY_LIFETIME: LiteralString = "24 hours"
_CLAIM_KEY: LiteralString = f"""
    WITH swept AS (
        DELETE FROM idempotency_keys WHERE (user_id, key) IN (
            SELECT user_id, key FROM idempotency_keys
            WHERE created_at < now() - interval '{KEY_LIFETIME}'
              AND (user_id, key) <> (%(user_id)s, %(key)s)
            ORDER BY created_at LIMIT 10 FOR UPDATE SKIP LOCKED
        )
    )
    INSERT INTO idempotency_keys (user_id, key, fingerprint)
    VALUES (%(user_id)s, %(key)s, %(fingerprint)s)
    ON CONFLICT (user_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, expense = NULL, created_at = now()
    WHERE idempotency_keys.created_at < now() - interval '{KEY_LIFETIME}'
    RETURNING true
"""
_CLAIMED_KEY: LiteralString = """
    SELECT fingerprint, expense FROM idempotency_keys WHERE user_id = %s AND key = %s
"""
_NEW_EXPENSE_FIELDS = (
    "user_id", "amount", "currency", "category", "description", "spent_on", "platform",
    "message_id",
)  # fmt: skip
# The expense and its snapshot in the claimed key in one statement. The snapshot is the
# row as JSON with the amount as text (a JSON number would come back a float).
_INSERT_EXPENSE_WITH_KEY: LiteralString = f"""
    WITH new AS (
        INSERT INTO expenses
            (user_id, amount, currency, category, description, spent_on, platform, message_id)
        VALUES (%(user_id)s, %(amount)s, %(currency)s, %(category)s, %(description)s,
                %(spent_on)s, %(platform)s, %(message_id)s)
        RETURNING {EXPENSE_COLUMNS}
    ), saved AS (
        UPDATE idempotency_keys k
        SET expense = to_jsonb(new) || jsonb_build_object('amount', new.amount::text)
        FROM new WHERE k.user_id = new.user_id AND k.key = %(key)s
    )
    SELECT {EXPENSE_COLUMNS} FROM new
"""


class Repository:
    def __init__(self, db: Statements) -> None:
        self.db = db

    # -- users -----------------------------------------------------------------------------

    async def insert_user(
        self, platform: str, external_id: str, display_name: str | None, currency: str
    ) -> User | None:
        """The new user, or None if (platform, external_id) already exists."""
        row = await self.db.fetch_one(
            Op.DB_INSERT, _INSERT_USER, (platform, external_id, display_name, currency)
        )
        # row: the columns, never `created` (mypy cannot know the tuple's length)
        return User(*row, created=True) if row else None  # type: ignore[misc]

    async def user_by_external_id(self, platform: str, external_id: str) -> User | None:
        row = await self.db.fetch_one(Op.DB_QUERY, _USER_BY_EXTERNAL_ID, (platform, external_id))
        return User(*row) if row else None

    async def user_by_id(self, user_id: int) -> User | None:
        row = await self.db.fetch_one(Op.DB_QUERY, _USER_BY_ID, (user_id,))
        return User(*row) if row else None

    # -- expenses --------------------------------------------------------------------------

    async def insert_expense(
        self,
        user_id: int,
        amount: Decimal,
        currency: str,
        category: str,
        description: str,
        spent_on: date,
        platform: str,
        message_id: str | None,
    ) -> Expense | None:
        """The new expense, or None if (platform, message_id) was recorded before. The
        announcement of the new row (migration 10) is registered as this process's own."""
        row = await self.db.fetch_announced(
            Op.DB_INSERT,
            _INSERT_EXPENSE,
            (user_id, amount, currency, category, description, spent_on, platform, message_id),
            announcement("expenses", user_id),
        )
        # row: the columns, never `created` (mypy cannot know the tuple's length)
        return Expense(*row, created=True) if row else None  # type: ignore[misc]

    async def insert_expenses(self, rows: list[tuple[Any, ...]]) -> list[Expense]:
        """Insert ``rows`` (the columns of :meth:`insert_expense`, message id None) in one
        statement: all or none. The new expenses, in the order of ``rows``."""
        assert all(row[7] is None for row in rows)  # with a message id it could conflict
        columns = [list(column) for column in zip(*rows, strict=True)]
        found = await self.db.fetch_all_announced(
            Op.DB_INSERT,
            _INSERT_EXPENSES,
            columns,
            [announcement("expenses", row[0]) for row in rows],  # one a row, by its person
        )
        # RETURNING's order is not promised: match each row by what was inserted.
        made: dict[tuple[Any, ...], list[Expense]] = {}
        for values in found:
            expense = Expense(*values, created=True)  # type: ignore[misc]  # (see insert_user)
            made.setdefault(tuple(values[1:9]), []).append(expense)
        return [made[tuple(row)].pop(0) for row in rows]

    async def expense_by_message(self, platform: str, message_id: str) -> Expense | None:
        row = await self.db.fetch_one(Op.DB_QUERY, _EXPENSE_BY_MESSAGE, (platform, message_id))
        return Expense(*row) if row else None

    async def expenses_by_source(
        self, platform: str, source_message: str, user_id: int
    ) -> list[Expense]:
        """The items ``user_id`` recorded from one chat message, in item order."""
        rows = await self.db.fetch_all(
            Op.DB_QUERY, _EXPENSES_BY_SOURCE, (platform, source_message, user_id)
        )
        return [Expense(*row) for row in rows]

    async def delete_by_source(
        self, platform: str, source_message: str, external_id: str
    ) -> list[Expense]:
        """Delete what the sender ``external_id`` recorded from one chat message."""
        rows = await self.db.fetch_all(
            Op.DB_DELETE, _DELETE_BY_SOURCE, (platform, source_message, platform, external_id)
        )
        return [Expense(*row) for row in rows]

    async def expense_by_id(self, expense_id: int, user_id: int | None = None) -> Expense | None:
        row = await self.db.fetch_one(Op.DB_QUERY, _EXPENSE_BY_ID, (expense_id, user_id, user_id))
        return Expense(*row) if row else None

    async def latest_expenses(self, user_id: int, limit: int) -> list[Expense]:
        rows = await self.db.fetch_all(Op.DB_QUERY, _LATEST_EXPENSES, (user_id, limit))
        return [Expense(*row) for row in rows]

    async def expenses_between(
        self, user_id: int, start: date, end: date, limit: int
    ) -> list[Expense]:
        rows = await self.db.fetch_all(Op.DB_QUERY, _EXPENSES_BETWEEN, (user_id, start, end, limit))
        return [Expense(*row) for row in rows]

    async def update_expense(
        self,
        expense_id: int,
        user_id: int | None,
        *,
        amount: Decimal | None,
        currency: str | None,
        category: str | None,
        description: str | None,
        spent_on: date | None,
    ) -> Expense | None:
        """The updated expense, or None if it does not exist (within ``user_id``'s) or the
        amount cannot be written exactly in its currency."""
        row = await self.db.fetch_one(
            Op.DB_UPDATE,
            _UPDATE_EXPENSE,
            {
                "id": expense_id,
                "user_id": user_id,
                "amount": amount,
                "currency": currency,
                "category": category,
                "description": description,
                "spent_on": spent_on,
            },
        )
        return Expense(*row) if row else None

    async def delete_expense(self, expense_id: int, user_id: int | None) -> Expense | None:
        row = await self.db.fetch_one(Op.DB_DELETE, _DELETE_EXPENSE, (expense_id, user_id, user_id))
        return Expense(*row) if row else None

    async def summary(self, user_id: int, start: date, end: date) -> Summary:
        rows = await self.db.fetch_all(Op.DB_QUERY, _SUMMARY, (user_id, start, end))
        totals: dict[str, tuple[Decimal, int]] = {}
        by_category: dict[str, dict[str, Decimal]] = {}
        by_day: dict[str, dict[date, Decimal]] = {}
        for currency, category, day, amount, count, grouping in rows:
            if grouping == 3:
                totals[currency] = (amount, count)
            elif grouping == 1:
                by_category.setdefault(currency, {})[category] = amount
            else:
                by_day.setdefault(currency, {})[day] = amount
        currencies = {
            code: CurrencyTotals(
                currency=code,
                total=total,
                count=count,
                by_category=by_category.get(code, {}),
                by_day=dict(sorted(by_day.get(code, {}).items())),
            )
            for code, (total, count) in totals.items()
        }
        return Summary(user_id=user_id, start=start, end=end, currencies=currencies)

    # -- categories ------------------------------------------------------------------------

    async def categories(self) -> list[Category]:
        rows = await self.db.fetch_all(Op.DB_QUERY, _CATEGORIES)
        return [Category(slug, name, tuple(keywords)) for slug, name, keywords in rows]

    # -- API tokens ------------------------------------------------------------------------

    async def store_token(self, user_id: int, sha256: bytes, *, replace: bool) -> bool:
        """Store a token digest; False when ``replace`` is off and the person has one."""
        sql = _REPLACE_TOKEN if replace else _FIRST_TOKEN
        return await self.db.fetch_one(Op.DB_INSERT, sql, (user_id, sha256)) is not None

    async def token_digest(self, user_id: int) -> bytes | None:
        row = await self.db.fetch_one(Op.DB_QUERY, _TOKEN_DIGEST, (user_id,))
        return bytes(row[0]) if row else None

    async def highest_token_holder(self) -> int:
        """The highest user id that holds an API token (0: nobody does)."""
        row = await self.db.fetch_one(Op.DB_QUERY, _TOKEN_HOLDER_MAX)
        return int(row[0]) if row else 0

    # -- idempotency keys (call inside Database.transaction) -------------------------------

    async def claim_key(self, user_id: int, key: str, fingerprint: bytes) -> bool:
        """True when this transaction now owns ``key`` (new, or expired and reclaimed)."""
        params = {"user_id": user_id, "key": key, "fingerprint": fingerprint}
        return await self.db.fetch_one(Op.DB_INSERT, _CLAIM_KEY, params) is not None

    async def claimed_key(self, user_id: int, key: str) -> tuple[bytes, Expense]:
        """(fingerprint, expense as first created) of a key another request used."""
        row = await self.db.fetch_one(Op.DB_QUERY, _CLAIMED_KEY, (user_id, key))
        if row is None or row[1] is None:  # the primary key wait makes this impossible
            raise RuntimeError(f"idempotency key {key!r} of user {user_id} vanished")
        return bytes(row[0]), expense_from_snapshot(row[1])

    async def insert_expense_with_key(self, key: str, row: tuple[Any, ...]) -> Expense:
        """Insert the expense ``row`` (the columns of :meth:`insert_expense`, with no
        message id) and keep it in the claimed ``key`` of its user."""
        params = {**dict(zip(_NEW_EXPENSE_FIELDS, row, strict=True)), "key": key}
        found = await self.db.fetch_one(Op.DB_INSERT, _INSERT_EXPENSE_WITH_KEY, params)
        assert found is not None  # no ON CONFLICT: the INSERT returns its row or raises
        return Expense(*found, created=True)  # type: ignore[misc]  # (see insert_user)


def expense_from_snapshot(s: dict[str, Any]) -> Expense:
    """An expense from the JSON snapshot ``_INSERT_EXPENSE_WITH_KEY`` keeps."""
    return Expense(
        s["id"],
        s["user_id"],
        Decimal(s["amount"]),
        s["currency"],
        s["category"],
        s["description"],
        date.fromisoformat(s["spent_on"]),
        s["platform"],
        s["message_id"],
        datetime.fromisoformat(s["created_at"]),
    )
