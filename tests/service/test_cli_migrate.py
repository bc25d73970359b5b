"""`exporter migrate`: the migration Job of deploy/kubernetes/ runs it before a rollout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from aiexpense.store.migrations import MIGRATIONS
from tests.support import free_port

EXPORTER = str(Path(sys.executable).parent / "exporter")


def migrate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [EXPORTER, "migrate", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_applies_every_migration_once_then_finds_the_schema_current(database):
    first = migrate({"DATABASE_URL": database.url})
    assert first.returncode == 0, first.stderr
    versions = [m.version for m in MIGRATIONS]
    assert first.stdout.strip() == f"applied migrations {versions}"
    with psycopg.connect(database.url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        assert [r[0] for r in rows] == versions
        assert conn.execute("SELECT count(*) FROM currencies").fetchone()[0] > 0

    again = migrate({"DATABASE_URL": database.url})
    assert (again.returncode, again.stdout.strip()) == (0, "schema is current")


def test_migrate_without_database_url_exits_2_naming_the_variable():
    result = migrate({})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "exporter migrate: DATABASE_URL is not set (the database to migrate)"
    ]


def test_migrate_against_an_unreachable_database_fails_in_one_line_without_the_password():
    url = f"postgresql://aiexpense:s3cret-pw@127.0.0.1:{free_port()}/aiexpense?connect_timeout=1"
    result = migrate({"DATABASE_URL": url}, "--timeout", "1")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("exporter migrate: PoolTimeout"), result.stderr
    assert "s3cret-pw" not in result.stderr and "Traceback" not in result.stderr
