"""PrefixRouter answers every request exactly as Starlette's Router does, only faster."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router
from starlette.testclient import TestClient

from aiexpense.http.routing import PrefixRouter, exact_routes, first_segment


def _routes() -> list:
    def named(name: str):
        async def endpoint(request):
            return PlainTextResponse(f"{name} {dict(request.path_params)}")

        return endpoint

    return [
        Route("/api/items", named("list"), methods=["GET"]),
        Route("/api/items", named("create"), methods=["POST"]),
        Route("/api/items/{item_id:int}", named("item")),
        Route("/monitoring/live", named("live")),
        Route("/shadow/{name}", named("shadowing")),  # takes /shadow/me before its own route
        Route("/shadow/me", named("shadowed")),
        Mount("/static", routes=[Route("/{name}", named("static"))]),
        Route("/{page}", named("page")),  # a parameter first: a candidate for every path
        Route("/api/{anything:path}", named("api-fallback"), methods=["DELETE"]),
    ]


def _client(router_class: type[Router], root_path: str = "") -> TestClient:
    app = Starlette()
    app.router = router_class(_routes(), redirect_slashes=False)
    return TestClient(app, root_path=root_path)


PATHS = [
    ("GET", "/api/items"), ("POST", "/api/items"), ("PUT", "/api/items"),
    ("GET", "/api/items/7"), ("GET", "/api/items/x"), ("DELETE", "/api/items/7"),
    ("GET", "/monitoring/live"), ("GET", "/monitoring/nope"), ("GET", "/static/a.css"),
    ("GET", "/about"), ("GET", "/"), ("GET", "/nowhere/at/all"), ("GET", "/api"),
    ("GET", "/shadow/me"), ("HEAD", "/monitoring/live"), ("POST", "/monitoring/live"),
]  # fmt: skip


@pytest.mark.parametrize("root_path", ["", "/prefix"])
def test_every_answer_is_starlettes(root_path):
    ours, theirs = _client(PrefixRouter, root_path), _client(Router, root_path)
    for method, path in PATHS:
        a, b = ours.request(method, root_path + path), theirs.request(method, root_path + path)
        assert (a.status_code, a.text, a.headers.get("allow")) == (
            b.status_code,
            b.text,
            b.headers.get("allow"),
        ), (method, path)


def test_routes_added_later_are_found():
    client = _client(PrefixRouter)
    assert client.get("/late").text.startswith("page")
    client.app.router.routes.insert(0, Route("/late", lambda r: PlainTextResponse("late")))
    assert client.get("/late").text == "late"


def test_first_segment():
    assert first_segment("/api/users/{id}") == "api"
    assert first_segment("/{page}") == ""
    assert first_segment("/") == ""
    assert first_segment("/metrics") == "metrics"


def test_exact_routes_are_those_starlette_would_try_first():
    exact = exact_routes(_routes())
    # Not /shadow/me (a route before it matches that path), nor what comes after the Mount.
    assert {path: route.name for path, route in exact.items()} == {
        "/api/items": "endpoint",
        "/monitoring/live": "endpoint",
    }
    assert exact["/api/items"].methods == {"GET", "HEAD"}  # the first of the two
