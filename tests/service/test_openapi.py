"""The OpenAPI document: every route of the app is in it and everything in it is a route;
and schemathesis, fuzzing the live server from it, finds no 5xx and no answer that breaks
the document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from aiexpense.app import create_app
from aiexpense.config import Settings
from aiexpense.domain import validation as v
from aiexpense.http.limits import uvicorn_options
from aiexpense.openapi import parser_schema
from tests.service import webhook_samples as ws
from tests.service.helpers import ADMIN, ADMIN_TOKEN
from tests.support import running

MONITORING = ("/monitoring", "/metrics")  # the kit's: not part of this document


def documented(app) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in app.state.openapi["paths"].items()
        for method in item
    }


def served(app) -> set[tuple[str, str]]:
    out = set()
    for route in app.routes:
        assert isinstance(route, Route), route
        if route.path.startswith(MONITORING):
            continue
        out |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
    return out


def test_every_route_is_documented_and_every_documented_path_is_served(database):
    app = create_app(Settings(database_url=database.url))
    assert served(app) == documented(app)
    assert any(path.startswith("/webhook/") for _, path in served(app))


def test_bodies_and_queries_come_from_the_validation_schemas(database):
    app = create_app(Settings(database_url=database.url))
    post = app.state.openapi["paths"]["/api/expenses"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {f.name for f in v.NEW_EXPENSE.fields}
    assert body["required"] == ["user_id", "amount"] and body["additionalProperties"] is False
    assert body["properties"]["description"]["maxLength"] == 500
    patch = app.state.openapi["paths"]["/api/expenses/{expense_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"]["minProperties"] == 1
    with pytest.raises(KeyError):  # a parser nobody described fails loudly
        parser_schema(lambda value: value)


def test_the_document_is_served_as_openapi_3_1(database):
    app = create_app(Settings(database_url=database.url))
    with running(app) as base:
        r = httpx.get(f"{base}/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["openapi"] == "3.1.0"
    assert r.json() == json.loads(json.dumps(app.state.openapi))


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(database, tmp_path):
    st = Path(sys.executable).with_name("st")
    settings = Settings(
        database_url=database.url, admin_token=ADMIN_TOKEN, webhooks=ws.webhook_settings()
    )
    app = create_app(settings)
    with (
        running(app, **uvicorn_options()) as base,
        httpx.Client(base_url=base, headers=ADMIN) as client,
    ):
        user = client.post("/api/users", json={"external_id": "fuzz"}).json()
        client.post("/api/expenses", json={"user_id": user["id"], "amount": "12"})
        run = subprocess.run(
            [str(st), "run", f"{base}/openapi.json",
             "--checks", "not_a_server_error,status_code_conformance,"
             "content_type_conformance,response_schema_conformance,"
             "response_headers_conformance",
             "--max-examples", "40", "--seed", "20261201", "--workers", "2",
             "--phases", "examples,coverage,fuzzing", "--request-timeout", "10",
             "--generation-database", "none", "--no-color",
             "--header", f"Authorization: {ADMIN['Authorization']}",  # the admin reaches all
             "--report", "ndjson", "--report-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=240, cwd=tmp_path,  # its cache goes there
        )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
