"""The JSON API over a real uvicorn: CRUD, operation counts, and bad input answered 4xx."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from aiexpense.app import create_app
from aiexpense.config import Settings
from tests.service.helpers import ADMIN, ADMIN_TOKEN, bearer
from tests.support import Database, running

JSON = {"content-type": "application/json"}


def test_crud_over_http(database):
    settings = Settings(database_url=database.url, default_currency="TWD", admin_token=ADMIN_TOKEN)
    with running(create_app(settings)) as base, httpx.Client(base_url=base) as client:
        r = client.post(
            "/api/users", json={"external_id": "amy", "display_name": "Amy"}, headers=ADMIN
        )
        assert r.status_code == 201
        user = r.json()
        assert (user["platform"], user["currency"], user["display_name"]) == ("api", "TWD", "Amy")
        assert (
            client.post("/api/users", json={"external_id": "amy"}, headers=ADMIN).status_code == 200
        )
        client.headers.update(bearer(user.pop("token")))  # from here on, as Amy
        assert client.get(f"/api/users/{user['id']}").json() == user

        # amounts as JSON numbers and as strings, both exact (0.1 + 0.2 == 0.3 here)
        made = []
        for amount, extra in [
            ("0.10", {"category": "food", "spent_on": "2024-05-01"}),
            (0.2, {"category": "food", "spent_on": "2024-05-01"}),
            (150, {"currency": "JPY", "description": "onigiri", "spent_on": "2024-05-03"}),
        ]:
            body = json.dumps({"user_id": user["id"], "amount": amount, **extra})
            r = client.post("/api/expenses", content=body, headers=JSON)
            assert r.status_code == 201, r.text
            assert r.headers["location"] == f"/api/expenses/{r.json()['id']}"
            made.append(r.json())
        assert [e["amount"] for e in made] == ["0.10", "0.20", "150"]
        assert made[0]["currency"] == "TWD" and made[2]["currency"] == "JPY"

        latest = client.get("/api/expenses", params={"user_id": user["id"], "limit": 2}).json()
        assert (latest["limit"], latest["count"]) == (2, 2)
        assert latest["expenses"][0]["description"] == "onigiri"

        ranged = client.get(
            "/api/expenses",
            params={"user_id": user["id"], "from": "2024-05-01", "to": "2024-05-02"},
        ).json()
        assert ranged["count"] == 2 and ranged["from"] == "2024-05-01"

        summary = client.get(
            f"/api/users/{user['id']}/summary", params={"from": "2024-05-01", "to": "2024-05-31"}
        ).json()
        assert summary["currencies"]["TWD"] == {
            "total": "0.30",
            "count": 2,
            "by_category": {"food": "0.30"},
            "by_day": {"2024-05-01": "0.30"},
        }
        assert summary["currencies"]["JPY"]["total"] == "150"

        r = client.patch(
            f"/api/expenses/{made[0]['id']}", json={"amount": "0.15", "category": "travel"}
        )
        assert r.status_code == 200 and (r.json()["amount"], r.json()["category"]) == (
            "0.15",
            "travel",
        )
        r = client.delete(f"/api/expenses/{made[1]['id']}")
        assert r.status_code == 200 and r.json()["deleted"]["id"] == made[1]["id"]
        remaining = client.get("/api/expenses", params={"user_id": user["id"]}).json()
        assert [e["amount"] for e in remaining["expenses"]] == ["150", "0.15"]

        categories = client.get("/api/categories").json()["categories"]
        assert categories[0]["slug"] == "food" and categories[-1]["slug"] == "other"
        assert client.get("/api/categories/food").json()["name"] == categories[0]["name"]


def test_a_scripted_session_shows_in_monitoring_metrics_with_exact_counts(database):
    app = create_app(Settings(database_url=database.url, admin_token=ADMIN_TOKEN))
    n = 7
    with running(app) as base, httpx.Client(base_url=base, headers=ADMIN) as client:
        amy = client.post("/api/users", json={"external_id": "amy"}).json()
        client.post("/api/users", json={"external_id": "amy"})  # already there: cache hit
        client.post("/api/users", json={"external_id": "bob"})
        client.headers.update(bearer(amy["token"]))  # the rest as Amy
        client.get(f"/api/users/{amy['id']}")
        ids = [
            client.post("/api/expenses", json={"user_id": amy["id"], "amount": i + 1}).json()["id"]
            for i in range(n)
        ]
        client.get("/api/expenses", params={"user_id": amy["id"]})
        client.get("/api/expenses", params={"user_id": amy["id"], "limit": 5})
        client.get(
            "/api/expenses", params={"user_id": amy["id"], "from": "2000-01-01", "to": "2100-01-01"}
        )
        client.patch(f"/api/expenses/{ids[0]}", json={"description": "x"})
        client.patch(f"/api/expenses/{ids[1]}", json={"amount": "9.99"})
        client.delete(f"/api/expenses/{ids[2]}")
        client.get(f"/api/users/{amy['id']}/summary")
        client.get("/api/categories")
        client.get("/api/categories/food")
        metrics = client.get("/monitoring/metrics").json()
        exposition = client.get("/metrics").text

    expected = {
        "auto_signup": 3,
        "get_user": 1,
        "create_expense": n,
        "get_expenses": 2,
        "get_expenses_by_date_range": 1,
        "update_expense": 2,
        "delete_expense": 1,
        "get_metrics": 1,
        "list_categories": 1,
        "category_lookup": 1,
        "db_insert": 2 + 2 + n,  # two new users, their two tokens, n expenses
        "db_update": 2,
        "db_delete": 1,
        "cache_invalidate": n + 2 + 1,  # every write to expenses
    }
    for name, count in expected.items():
        assert metrics[name]["count"] == count, name
        assert f'aiexpense_operations_total{{operation="{name}"}} {count}.0' in exposition
    for name in ("db_query", "cache_get", "cache_set"):
        assert metrics[name]["count"] > 0, name
    assert all(m["error_count"] == 0 for m in metrics.values())


# -- bad input: every refusal is a 4xx naming the field --------------------------------------


@dataclass(frozen=True)
class Api:
    client: httpx.Client
    ids: dict[str, int]


@pytest.fixture(scope="module")
def api(pg_server: str) -> Iterator[Api]:
    """One server for the whole table (a database of its own, dropped afterwards)."""
    db = Database(pg_server, f"t_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db.name}"')
    try:
        settings = Settings(database_url=db.url, default_currency="USD", admin_token=ADMIN_TOKEN)
        with running(create_app(settings)) as base, httpx.Client(base_url=base) as client:
            amy = client.post("/api/users", json={"external_id": "amy"}, headers=ADMIN).json()
            uid = amy["id"]
            client.headers.update(bearer(amy["token"]))  # the table runs as Amy
            usd = client.post("/api/expenses", json={"user_id": uid, "amount": "12.50"}).json()
            jpy = client.post(
                "/api/expenses", json={"user_id": uid, "amount": 300, "currency": "JPY"}
            ).json()
            yield Api(client, {"uid": uid, "usd": usd["id"], "jpy": jpy["id"]})
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


def expense(**fields) -> str:
    return json.dumps({"user_id": "{uid}", "amount": "1", **fields})


SIGN_UP = {**JSON, **ADMIN}
NESTED = "[" * 30000 + "]" * 30000
BAD_REQUESTS = [
    # (method, path, body, headers, status, field)
    ("POST", "/api/users", "{}", SIGN_UP, 422, "external_id"),
    ("POST", "/api/users", '{"external_id": 5}', SIGN_UP, 422, "external_id"),
    ("POST", "/api/users", '{"external_id": "   "}', SIGN_UP, 422, "external_id"),
    ("POST", "/api/users", json.dumps({"external_id": "x" * 300}), SIGN_UP, 422, "external_id"),
    ("POST", "/api/users", '{"external_id": "a", "currency": "XYZ"}', SIGN_UP, 422, "currency"),
    ("POST", "/api/users", '{"external_id": "a", "nickname": "b"}', SIGN_UP, 422, "nickname"),
    ("POST", "/api/users", '{"external_id": "a\\u0000b"}', SIGN_UP, 422, "external_id"),
    ("GET", "/api/users/abc", None, {}, 422, "user_id"),
    ("GET", "/api/users/0", None, {}, 422, "user_id"),
    ("GET", "/api/users/99999999999999999999", None, {}, 422, "user_id"),
    ("GET", "/api/users/987654", None, {}, 404, "user_id"),
    ("POST", "/api/expenses", '{"user_id": "{uid}"}', JSON, 422, "amount"),
    ("POST", "/api/expenses", '{"amount": "1"}', JSON, 422, "user_id"),
    ("POST", "/api/expenses", expense(amount="abc"), JSON, 422, "amount"),
    ("POST", "/api/expenses", expense(amount=-5), JSON, 422, "amount"),
    ("POST", "/api/expenses", expense(amount=0), JSON, 422, "amount"),
    ("POST", "/api/expenses", expense(amount="0.00"), JSON, 422, "amount"),
    ("POST", "/api/expenses", expense(amount=10**15), JSON, 422, "amount"),
    ("POST", "/api/expenses", '{"user_id": "{uid}", "amount": 1e400}', JSON, 422, "amount"),
    ("POST", "/api/expenses", '{"user_id": "{uid}", "amount": NaN}', JSON, 422, "amount"),
    ("POST", "/api/expenses", '{"user_id": "{uid}", "amount": true}', JSON, 422, "amount"),
    ("POST", "/api/expenses", expense(amount=[1]), JSON, 422, "amount"),
    ("POST", "/api/expenses", expense(amount="12.345"), JSON, 422, "amount"),
    ("POST", "/api/expenses", expense(amount="1.5", currency="JPY"), JSON, 422, "amount"),
    ("POST", "/api/expenses", expense(amount="1_000"), JSON, 422, "amount"),
    ("POST", "/api/expenses", expense(currency="EURO"), JSON, 422, "currency"),
    ("POST", "/api/expenses", expense(currency=840), JSON, 422, "currency"),
    ("POST", "/api/expenses", expense(spent_on="2024-02-30"), JSON, 422, "spent_on"),
    ("POST", "/api/expenses", expense(spent_on="02/01/2024"), JSON, 422, "spent_on"),
    ("POST", "/api/expenses", expense(spent_on="1800-01-01"), JSON, 422, "spent_on"),
    ("POST", "/api/expenses", expense(spent_on=20240101), JSON, 422, "spent_on"),
    ("POST", "/api/expenses", expense(category="rocketry"), JSON, 422, "category"),
    ("POST", "/api/expenses", expense(category="Food!"), JSON, 422, "category"),
    ("POST", "/api/expenses", expense(description="x" * 501), JSON, 422, "description"),
    ("POST", "/api/expenses", expense(description=7), JSON, 422, "description"),
    ("POST", "/api/expenses", expense(description="\ud800"), JSON, 422, "description"),
    ("POST", "/api/expenses", expense(user_id="abc"), JSON, 422, "user_id"),
    ("POST", "/api/expenses", expense(user_id=1.5), JSON, 422, "user_id"),
    ("POST", "/api/expenses", expense(user_id=True), JSON, 422, "user_id"),
    ("POST", "/api/expenses", expense(user_id=987654), JSON, 404, "user_id"),
    ("POST", "/api/expenses", expense(ammount="1"), JSON, 422, "ammount"),
    ("POST", "/api/expenses", "{bad json", JSON, 400, "body"),
    ("POST", "/api/expenses", "", JSON, 400, "body"),
    ("POST", "/api/expenses", "[1, 2]", JSON, 422, "body"),
    ("POST", "/api/expenses", '"just a string"', JSON, 422, "body"),
    ("POST", "/api/expenses", "1" * 5000, JSON, 400, "body"),
    ("POST", "/api/expenses", NESTED, JSON, 400, "body"),
    ("POST", "/api/expenses", b'{"amount": "\xff\xfe"}', JSON, 400, "body"),
    ("POST", "/api/expenses", expense(), {"content-type": "text/plain"}, 415, "Content-Type"),
    ("POST", "/api/expenses", expense(), {"content-type": "application/xml"}, 415, "Content-Type"),
    ("POST", "/api/expenses", expense(), {}, 415, "Content-Type"),
    ("POST", "/api/expenses", expense(description="x" * 70_000), JSON, 413, "body"),
    ("GET", "/api/expenses", None, {}, 422, "user_id"),
    ("GET", "/api/expenses?user_id=", None, {}, 422, "user_id"),
    ("GET", "/api/expenses?user_id=%EF%BC%91", None, {}, 422, "user_id"),  # fullwidth 1
    ("GET", "/api/expenses?user_id=987654", None, {}, 404, "user_id"),
    ("GET", "/api/expenses?user_id={uid}&limit=0", None, {}, 422, "limit"),
    ("GET", "/api/expenses?user_id={uid}&limit=5000", None, {}, 422, "limit"),
    ("GET", "/api/expenses?user_id={uid}&limit=ten", None, {}, 422, "limit"),
    ("GET", "/api/expenses?user_id={uid}&from=2024-01-01", None, {}, 422, "to"),
    ("GET", "/api/expenses?user_id={uid}&to=2024-01-01", None, {}, 422, "from"),
    ("GET", "/api/expenses?user_id={uid}&from=2024-02-01&to=2024-01-01", None, {}, 422, "from"),
    ("GET", "/api/expenses?user_id={uid}&from=2024-13-01&to=2024-12-31", None, {}, 422, "from"),
    ("GET", "/api/expenses?user_id={uid}&user_id=2", None, {}, 422, "user_id"),
    ("GET", "/api/expenses?user={uid}", None, {}, 422, "user"),
    ("PATCH", "/api/expenses/{usd}", "{}", JSON, 422, "body"),
    ("PATCH", "/api/expenses/{usd}", '{"user_id": 2}', JSON, 422, "user_id"),
    ("PATCH", "/api/expenses/{usd}", '{"amount": -1}', JSON, 422, "amount"),
    ("PATCH", "/api/expenses/{usd}", '{"currency": "JPY"}', JSON, 422, "currency"),
    ("PATCH", "/api/expenses/{jpy}", '{"amount": "1.5"}', JSON, 422, "amount"),
    ("PATCH", "/api/expenses/{usd}", '{"spent_on": "yesterday"}', JSON, 422, "spent_on"),
    ("PATCH", "/api/expenses/{usd}", '{"category": "rocketry"}', JSON, 422, "category"),
    (
        "PATCH",
        "/api/expenses/{usd}",
        '{"amount": "2"}',
        {"content-type": "text/json"},
        415,
        "Content-Type",
    ),
    ("PATCH", "/api/expenses/987654", '{"amount": "1"}', JSON, 404, "expense_id"),
    ("PATCH", "/api/expenses/abc", '{"amount": "1"}', JSON, 422, "expense_id"),
    ("DELETE", "/api/expenses/987654", None, {}, 404, "expense_id"),
    ("DELETE", "/api/expenses/-1", None, {}, 422, "expense_id"),
    ("GET", "/api/users/{uid}/summary?from=2024-02-01&to=2024-01-01", None, {}, 422, "from"),
    ("GET", "/api/users/{uid}/summary?from=bad", None, {}, 422, "from"),
    ("GET", "/api/users/{uid}/summary?period=month", None, {}, 422, "period"),
    ("GET", "/api/users/987654/summary", None, {}, 404, "user_id"),
    ("GET", "/api/categories/rocketry", None, {}, 404, "slug"),
    ("GET", "/api/categories/BAD!", None, {}, 422, "slug"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "field"),
    BAD_REQUESTS,
    ids=[f"{i:02d}-{case[0]}-{case[5]}" for i, case in enumerate(BAD_REQUESTS)],
)
def test_bad_requests_get_a_4xx_naming_the_field(api, method, path, body, headers, status, field):
    ids = api.ids
    path = path.format(**ids)
    if isinstance(body, str):
        body = body.replace('"{uid}"', str(ids["uid"])).encode("utf-8", "surrogatepass")
    r = api.client.request(method, path, content=body, headers=headers)
    assert r.status_code == status, r.text
    payload = r.json()
    assert payload["field"] == field, payload
    assert payload["error"]


def test_the_table_is_big_enough_and_left_no_trace(api):
    assert len(BAD_REQUESTS) >= 30
    metrics = api.client.get("/monitoring/metrics").json()
    # Refusals are the caller's mistakes: no operation counted an error, nothing else changed.
    assert sum(m["error_count"] for m in metrics.values()) == 0
    listed = api.client.get("/api/expenses", params={"user_id": api.ids["uid"]}).json()
    assert sorted(e["amount"] for e in listed["expenses"]) == ["12.50", "300"]


def test_an_oversized_body_without_content_length_is_cut_off(api):
    def chunks():  # chunked transfer encoding: the size is only known while reading
        yield b'{"user_id": 1, "description": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    r = api.client.post("/api/expenses", content=chunks(), headers=JSON)
    assert r.status_code == 413 and r.json()["field"] == "body"
