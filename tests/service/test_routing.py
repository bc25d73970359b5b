"""PrefixRouter answers every request exactly as Starlette's Router does, only faster."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router

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


def _app(router_class: type[Router]) -> Starlette:
    app = Starlette()
    app.router = router_class(_routes(), redirect_slashes=False)
    return app


def _client(app: Starlette, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


PATHS = [
    ("GET", "/api/items"), ("POST", "/api/items"), ("PUT", "/api/items"),
    ("GET", "/api/items/7"), ("GET", "/api/items/x"), ("DELETE", "/api/items/7"),
    ("GET", "/monitoring/live"), ("GET", "/monitoring/nope"), ("GET", "/static/a.css"),
    ("GET", "/about"), ("GET", "/"), ("GET", "/nowhere/at/all"), ("GET", "/api"),
    ("GET", "/shadow/me"), ("HEAD", "/monitoring/live"), ("POST", "/monitoring/live"),
]  # fmt: skip


@pytest.mark.parametrize("root_path", ["", "/prefix"])
async def test_every_answer_is_starlettes(root_path):
    ours, theirs = _client(_app(PrefixRouter), root_path), _client(_app(Router), root_path)
    for method, path in PATHS:
        a = await ours.request(method, root_path + path)
        b = await theirs.request(method, root_path + path)
        assert (a.status_code, a.text, a.headers.get("allow")) == (
            b.status_code,
            b.text,
            b.headers.get("allow"),
        ), (method, path)


async def test_routes_added_later_are_found():
    app = _app(PrefixRouter)
    client = _client(app)
    assert (await client.get("/late")).text.startswith("page")
    app.router.routes.insert(0, Route("/late", lambda r: PlainTextResponse("late")))
    assert (await client.get("/late")).text == "late"


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
