"""The schema, as ordered migrations applied once each at start-up.

All of it runs in one transaction behind a transaction-level advisory lock, so several
instances starting together apply each migration exactly once (the others wait, then find
nothing left to do), and a failed migration leaves no half-built schema behind.
``schema_migrations`` records what has run. Never edit a migration that has shipped:
append a new one.

Reference data (currencies, the category lexicon) is not frozen into a migration: it is
upserted on every start, so a new keyword in :mod:`aiexpense.text.lexicon` reaches the
table on the next deploy. Rows are only rewritten when they differ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import LiteralString

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ..domain.currencies import MINOR_UNITS
from ..text.lexicon import CATEGORIES

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key: b"aiexpens" as a big-endian integer (any fixed bigint will do).
LOCK_KEY = 7019253062189805171


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: LiteralString


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "currencies",
        """
        CREATE TABLE currencies (
            code        char(3)  PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
            minor_units smallint NOT NULL CHECK (minor_units BETWEEN 0 AND 4)
        );
        """,
    ),
    Migration(
        2,
        "users",
        """
        CREATE TABLE users (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            platform     text NOT NULL CHECK (platform ~ '^[a-z][a-z0-9_]{0,31}$'),
            external_id  text NOT NULL CHECK (char_length(external_id) BETWEEN 1 AND 256),
            display_name text CHECK (char_length(display_name) <= 200),
            currency     char(3) NOT NULL REFERENCES currencies (code),
            created_at   timestamptz NOT NULL DEFAULT now(),
            -- one person per platform account; also the index auto_signup's lookup uses
            CONSTRAINT users_platform_external_id_key UNIQUE (platform, external_id)
        );
        """,
    ),
    Migration(
        3,
        "categories",
        """
        CREATE TABLE categories (
            slug     text PRIMARY KEY CHECK (slug ~ '^[a-z][a-z0-9_-]{0,31}$'),
            name     text NOT NULL,
            keywords text[] NOT NULL DEFAULT '{}',
            position integer NOT NULL DEFAULT 0
        );
        """,
    ),
    Migration(
        4,
        "expenses",
        """
        CREATE TABLE expenses (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            -- Unconstrained NUMERIC keeps each amount at its currency's exponent (1200 JPY,
            -- 12.50 USD, 1.250 KWD): exact, no conversion on read, sums at the right scale.
            amount      numeric NOT NULL
                        CHECK (amount > 0 AND amount < 1e12 AND scale(amount) <= 3),
            currency    char(3) NOT NULL REFERENCES currencies (code),
            category    text NOT NULL REFERENCES categories (slug) ON UPDATE CASCADE,
            description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
            spent_on    date NOT NULL,
            platform    text NOT NULL CHECK (platform ~ '^[a-z][a-z0-9_]{0,31}$'),
            message_id  text CHECK (char_length(message_id) BETWEEN 1 AND 256),
            created_at  timestamptz NOT NULL DEFAULT now(),
            -- webhook idempotency: a platform redelivering a message records it once;
            -- NULLs are distinct, so API-created rows (no message id) never collide
            CONSTRAINT expenses_platform_message_id_key UNIQUE (platform, message_id)
        );
        -- latest N, date ranges and summaries all read one person's rows newest first;
        -- it also serves the user_id foreign key
        CREATE INDEX expenses_user_spent_idx ON expenses (user_id, spent_on DESC, id DESC);
        """,
    ),
    Migration(
        5,
        "expenses_source_message",
        """
        -- The chat message an expense came from, so an edit or an unsend of that message
        -- finds every item it made: item 0 is stored under the platform's message id, the
        -- others under "<id>#<n>" (aiexpense.webhooks.pipeline.item_message_id). Generated, so
        -- no writer can get it wrong and existing rows are filled in by this migration.
        ALTER TABLE expenses ADD COLUMN source_message text
            GENERATED ALWAYS AS (split_part(message_id, '#', 1)) STORED;
        CREATE INDEX expenses_source_message_idx ON expenses (platform, source_message)
            WHERE source_message IS NOT NULL;
        """,
    ),
    # State that several replicas share (docs/replicas.md): cache invalidation, webhook
    # idempotency and the reply outbox. One migration, so a renumber on merge is one line.
    Migration(
        6,
        "replica_shared_state",
        """
        -- Every committed change to a cached table tells every replica's listener which
        -- key to drop (aiexpense.store.invalidation). A trigger, so no writer can forget it, and
        -- NOTIFY is sent at commit: a rolled-back write invalidates nothing.
        CREATE FUNCTION notify_expenses_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('aiexpense_cache', 'expenses:' || OLD.user_id);
            END IF;
            IF TG_OP <> 'DELETE' THEN
                PERFORM pg_notify('aiexpense_cache', 'expenses:' || NEW.user_id);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER expenses_changed AFTER INSERT OR UPDATE OR DELETE ON expenses
            FOR EACH ROW EXECUTE FUNCTION notify_expenses_changed();
        CREATE FUNCTION notify_categories_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('aiexpense_cache', 'categories:all');
            RETURN NULL;
        END $$;
        CREATE TRIGGER categories_changed AFTER INSERT OR UPDATE OR DELETE ON categories
            FOR EACH STATEMENT EXECUTE FUNCTION notify_categories_changed();

        -- Webhook messages already answered, whichever replica answered them, by kind of
        -- answer (recorded, refused, none): an edit that turns "no expense" into an
        -- expense is answered again, a redelivery is not.
        CREATE TABLE webhook_deliveries (
            platform    text NOT NULL,
            message_id  text NOT NULL,
            answer      text NOT NULL CHECK (answer IN ('recorded', 'refused', 'none')),
            answered_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (platform, message_id, answer)
        );
        CREATE INDEX webhook_deliveries_answered_idx ON webhook_deliveries (answered_at);

        -- Replies acknowledged to a platform and not yet delivered (aiexpense.store.outbox).
        -- Secrets never land here: the URL and headers hold {placeholders} for them.
        CREATE TABLE reply_outbox (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            platform    text NOT NULL,
            url         text NOT NULL,
            headers     jsonb NOT NULL DEFAULT '{}',
            payload     jsonb NOT NULL,
            state       text NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'delivered', 'failed')),
            attempts    integer NOT NULL DEFAULT 0,
            -- queued: when the row may be claimed next (a retry's delay, or the end of a
            -- worker's lease: a replica that dies holding a row gives it up this way)
            run_after   timestamptz NOT NULL DEFAULT now(),
            leased      boolean NOT NULL DEFAULT false,  -- claimed, no outcome recorded yet
            last_error  text,
            created_at  timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        );
        CREATE INDEX reply_outbox_due_idx ON reply_outbox (run_after, id) WHERE state = 'queued';
        CREATE INDEX reply_outbox_finished_idx ON reply_outbox (finished_at)
            WHERE state <> 'queued';
        """,
    ),
    Migration(
        7,
        "api_tokens",
        """
        -- One live API token a person (rotation replaces it). Only its SHA-256 is kept:
        -- a copy of this table gives no one a usable token.
        CREATE TABLE api_tokens (
            user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
            sha256     bytea NOT NULL CHECK (octet_length(sha256) = 32),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """,
    ),
    Migration(
        8,
        "idempotency_keys",
        """
        -- Idempotency-Key of POST /api/expenses: the first response, replayed to retries.
        -- The primary key is what makes concurrent retries wait for the first one.
        CREATE TABLE idempotency_keys (
            user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            key         text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
            fingerprint bytea NOT NULL CHECK (octet_length(fingerprint) = 32),
            -- the expense as first created (the response is rendered from it); NULL only
            -- inside the transaction that creates it
            expense     jsonb,
            created_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (user_id, key)
        );
        -- the sweep of expired keys reads the oldest first
        CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
        """,
    ),
    Migration(
        9,
        "api_tokens_notify",
        """
        -- A token issued or rotated anywhere drops that person's cached digest in every
        -- replica (aiexpense.store.credentials): a token check then needs the database
        -- only for what no cache can know.
        CREATE FUNCTION notify_api_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('aiexpense_cache', 'tokens:' || OLD.user_id);
            END IF;
            IF TG_OP <> 'DELETE' THEN
                PERFORM pg_notify('aiexpense_cache', 'tokens:' || NEW.user_id);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON api_tokens
            FOR EACH ROW EXECUTE FUNCTION notify_api_tokens_changed();
        """,
    ),
    Migration(
        10,
        "expense_rows_notify",
        """
        -- Every change to expenses is also announced on a channel of its own, a new row
        -- with its id: a listener of this version puts another process's new row into
        -- its cached page instead of dropping the page and reading it all again
        -- (aiexpense.store.invalidation). Listeners of earlier versions hear only
        -- aiexpense_cache, which carries what it always did.
        CREATE OR REPLACE FUNCTION notify_expenses_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                PERFORM pg_notify('aiexpense_rows', 'expenses:' || NEW.user_id || ':' || NEW.id);
            ELSE
                PERFORM pg_notify('aiexpense_rows', 'expenses:' || OLD.user_id);
                PERFORM pg_notify('aiexpense_cache', 'expenses:' || OLD.user_id);
            END IF;
            IF TG_OP = 'UPDATE' THEN
                PERFORM pg_notify('aiexpense_rows', 'expenses:' || NEW.user_id);
            END IF;
            IF TG_OP <> 'DELETE' THEN
                PERFORM pg_notify('aiexpense_cache', 'expenses:' || NEW.user_id);
            END IF;
            RETURN NULL;
        END $$;
        """,
    ),
)

_SYNC_CURRENCIES: LiteralString = """
    INSERT INTO currencies (code, minor_units)
    SELECT * FROM unnest(%s::text[], %s::smallint[])
    ON CONFLICT (code) DO UPDATE SET minor_units = EXCLUDED.minor_units
    WHERE currencies.minor_units <> EXCLUDED.minor_units
"""

_SYNC_CATEGORY: LiteralString = """
    INSERT INTO categories (slug, name, keywords, position) VALUES (%s, %s, %s, %s)
    ON CONFLICT (slug) DO UPDATE
    SET name = EXCLUDED.name, keywords = EXCLUDED.keywords, position = EXCLUDED.position
    WHERE (categories.name, categories.keywords, categories.position)
          IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.keywords, EXCLUDED.position)
"""


async def migrate(pool: AsyncConnectionPool) -> list[int]:
    """Apply the migrations this database lacks and sync reference data.

    Returns the versions applied by this call (empty when the schema was current).
    """
    async with pool.connection() as conn:
        return await migrate_connection(conn)


async def migrate_connection(conn: AsyncConnection) -> list[int]:
    """:func:`migrate` on a connection of the caller's (at start-up, one made before the
    pool opens, without the pool's statement timeout: a migration may take its time)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        cur = await conn.execute("SELECT version, name FROM schema_migrations")
        done: dict[int, str] = dict(await cur.fetchall())
        _check_history(done)
        applied = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied.append(migration.version)
            log.info("applied migration %d (%s)", migration.version, migration.name)
        await sync_reference_data(conn)
    return applied


async def sync_reference_data(conn: AsyncConnection) -> None:
    """Upsert the currency list and the category lexicon."""
    codes = sorted(MINOR_UNITS)
    await conn.execute(_SYNC_CURRENCIES, (codes, [MINOR_UNITS[c] for c in codes]))
    async with conn.cursor() as cur:
        await cur.executemany(
            _SYNC_CATEGORY,
            [(c.slug, c.name, list(c.keywords), i) for i, c in enumerate(CATEGORIES)],
        )


def _check_history(done: dict[int, str]) -> None:
    known = {m.version: m.name for m in MIGRATIONS}
    for version, name in sorted(done.items()):
        if version not in known:
            # A newer release migrated this database; running older code against it is
            # usually fine for additive changes, but worth a line in the log.
            log.warning("database has migration %d (%s) this release does not know", version, name)
        elif known[version] != name:
            raise RuntimeError(
                f"migration {version} is {name!r} in the database but {known[version]!r}"
                " here: shipped migrations must never be edited"
            )
