"""Refusing a credential without the database, over a real uvicorn and PostgreSQL: a
malformed token, an id above every token holder, an id known to hold none and a wrong
secret for a cached person cost no statement (counted by the service's db_* operations);
a failed check never evicts the person's cached digest; every refusal is counted in
``aiexpense_auth_refusals_total{reason}``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from aiexpense.app import create_app
from aiexpense.config import Settings
from aiexpense.domain.operations import Op
from aiexpense.domain.tokens import new_token
from aiexpense.store.credentials import NEW_IDS
from tests.service.helpers import ADMIN, ADMIN_TOKEN, bearer, op_count, select, sign_up
from tests.support import Database, running, wait_until

DB_OPS = (Op.DB_QUERY, Op.DB_INSERT, Op.DB_UPDATE, Op.DB_DELETE)


@dataclass(frozen=True)
class Server:
    client: httpx.Client
    app: object
    db_url: str

    def statements(self) -> int:
        """Statements the service has sent through its Database (every request's)."""
        service = self.app.state.service  # type: ignore[attr-defined]
        return sum(op_count(service, op) for op in DB_OPS)

    def refusals(self) -> dict[str, float]:
        """``aiexpense_auth_refusals_total`` by reason, from the registry /metrics renders."""
        registry = self.app.state.collector.registry  # type: ignore[attr-defined]
        return {
            s.labels["reason"]: s.value
            for metric in registry.collect()
            if metric.name == "aiexpense_auth_refusals"
            for s in metric.samples
            if s.name.endswith("_total")
        }

    def exposed(self) -> str:
        return self.client.get("/metrics").text


@pytest.fixture(scope="module")
def server(module_database: Database) -> Iterator[Server]:
    app = create_app(Settings(database_url=module_database.url, admin_token=ADMIN_TOKEN))
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield Server(client, app, module_database.url)


def person(server: Server) -> tuple[int, dict[str, str]]:
    user, headers = sign_up(server.client, f"r-{uuid.uuid4().hex[:10]}")
    assert server.client.get(f"/api/users/{user['id']}", headers=headers).status_code == 200
    return user["id"], headers


def test_every_reason_is_a_series_from_the_start(server):
    for reason in server.refusals():
        assert f'aiexpense_auth_refusals_total{{reason="{reason}"}}' in server.exposed()
    assert set(server.refusals()) == {
        "missing",
        "malformed",
        "unknown",
        "wrong_secret",
        "forbidden",
    }


def test_malformed_tokens_and_ids_above_every_holder_cost_no_statement(server):
    uid, _ = person(server)
    before, counted = server.statements(), server.refusals()
    shapes = [
        "nonsense",
        "aiex_",
        f"aiex_{uid}_short",
        new_token(uid) + "x",  # one character too long
        new_token(uid)[:-1] + "!",  # not base64url
        "x" * 300,
    ]
    for token in shapes:
        r = server.client.get(f"/api/users/{uid}", headers=bearer(token))
        assert r.status_code == 401, (token, r.text)
    above = [new_token(uid + NEW_IDS + n) for n in (1, 1_000, 2**61)]
    for token in above * 3:
        assert server.client.get(f"/api/users/{uid}", headers=bearer(token)).status_code == 401
    assert server.client.get(f"/api/users/{uid}").status_code == 401
    assert server.statements() == before
    after = server.refusals()
    assert after["malformed"] - counted["malformed"] == len(shapes)
    assert after["unknown"] - counted["unknown"] == len(above) * 3
    assert after["missing"] - counted["missing"] == 1


def test_wrong_secrets_never_evict_the_persons_token_and_read_at_most_once(server):
    uid, headers = person(server)
    before, counted = server.statements(), server.refusals()
    wrong = [bearer(new_token(uid)) for _ in range(30)]
    for attempt in wrong:
        r = server.client.get(f"/api/users/{uid}", headers=attempt)
        assert r.status_code == 401
        # the person, between every two attempts: still answered from the cache
        assert server.client.get(f"/api/users/{uid}", headers=headers).status_code == 200
    # At most one read past the cache (a rotation elsewhere it had not heard of) per
    # second for that id: 30 attempts in well under the test's time cost at most a few.
    assert server.statements() - before <= 3
    assert server.refusals()["wrong_secret"] - counted["wrong_secret"] == len(wrong)


def test_an_id_that_holds_no_token_is_read_then_refused_from_the_cache(server):
    # A person from a chat has no API token; someone signs up after them (a higher id).
    (row,) = select(
        server.db_url,
        "INSERT INTO users (platform, external_id, currency) VALUES ('line', %s, 'TWD')"
        " RETURNING id",
        (f"U{uuid.uuid4().hex}",),
    )
    person(server)
    before = server.statements()
    for _ in range(10):
        r = server.client.get(f"/api/users/{row[0]}", headers=bearer(new_token(row[0])))
        assert r.status_code == 401
    # the load, and one re-read (a token issued elsewhere, not yet announced): then none
    assert server.statements() - before == 2


def test_a_token_issued_by_another_replica_works_at_once(module_database):
    settings = Settings(database_url=module_database.url, admin_token=ADMIN_TOKEN)
    one_app, two_app = create_app(settings), create_app(settings)
    with (
        running(one_app) as one_url,
        running(two_app) as two_url,
        httpx.Client(base_url=one_url) as one,
        httpx.Client(base_url=two_url) as two,
    ):
        sign_up(two, "warm")  # two knows the highest holder now
        for n in range(5):  # signed up through one, used on two at once: never refused
            user, headers = sign_up(one, f"elsewhere-{n}-{uuid.uuid4().hex[:6]}")
            assert two.get(f"/api/users/{user['id']}", headers=headers).status_code == 200
        credentials = two_app.state.service.credentials
        wait_until(lambda: credentials.highest is not None and credentials.highest >= user["id"])
        two_server = Server(two, two_app, module_database.url)
        before = two_server.statements()
        far = user["id"] + NEW_IDS + 1  # beyond any sign-up still being announced
        assert two.get("/api/users/1", headers=bearer(new_token(far))).status_code == 401
        assert two_server.statements() == before


def test_the_admin_only_route_counts_a_persons_token_as_forbidden(server):
    _, headers = person(server)
    counted = server.refusals()["forbidden"]
    r = server.client.post("/api/users", json={"external_id": "x"}, headers=headers)
    assert r.status_code == 403
    assert server.refusals()["forbidden"] == counted + 1
    assert server.client.post("/api/users", json={"external_id": "x"}, headers=ADMIN).is_success
