"""Shared fixtures: a real PostgreSQL for the session, and a receiver on loopback.

Nothing here imports the service: the kit's tests (tests/kit/) run with the kit alone.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.postgres import Postgres
from tests.support import Database, Sink, running, sink_app


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> Iterator[str]:
    """The server URL: $DATABASE_URL when set, else an embedded PostgreSQL 16 (pgserver)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    server = Postgres(tmp_path_factory.mktemp("pgdata"))
    yield server.url
    server.close()


@pytest.fixture
def database(pg_server: str) -> Iterator[Database]:
    """A fresh, empty database of its own for one test, dropped afterwards."""
    yield from _fresh_database(pg_server)


@pytest.fixture(scope="module")
def module_database(pg_server: str) -> Iterator[Database]:
    """A fresh, empty database shared by one test module (one server for many cases)."""
    yield from _fresh_database(pg_server)


def _fresh_database(pg_server: str) -> Iterator[Database]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin(pg_server, f'CREATE DATABASE "{name}"')
    try:
        yield Database(pg_server, name)
    finally:
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(url: str, sql: str) -> None:
    """Run one statement on a fresh connection, once more if the connection drops: a
    handful of runs out of hundreds saw "server closed the connection unexpectedly" here,
    on a machine shared with other test sessions, never inside a test."""
    for attempt in (1, 2):
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql)
            return
        except psycopg.OperationalError:
            if attempt == 2:
                raise


@pytest.fixture
def own_postgres(tmp_path) -> Iterator[Postgres]:
    """A PostgreSQL server of this test's own, which the test may stop and start."""
    server = Postgres(tmp_path / "pgdata")
    yield server
    server.close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    """The test's receiver of Alertmanager notifications and Telegram replies, on loopback."""
    found = Sink()
    with running(sink_app(found)) as url:
        found.url = url
        yield found
