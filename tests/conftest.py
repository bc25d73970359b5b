"""Shared fixtures: a real PostgreSQL for the session, and real uvicorn servers on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from exporter.embedded_db import EmbeddedPostgres
from tests.support import Database


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> Iterator[str]:
    """The server URL: $DATABASE_URL when set, else an embedded PostgreSQL 16 (pgserver)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pgdata"))
    yield server.url
    server.close()


@pytest.fixture
def database(pg_server: str) -> Iterator[Database]:
    """A fresh, empty database of its own for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(pg_server, name)
    yield db
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def own_postgres(tmp_path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of this test's own, which the test may stop and start."""
    server = EmbeddedPostgres(tmp_path / "pgdata")
    yield server
    server.close()
