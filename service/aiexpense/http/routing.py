"""A Starlette router that tries only the routes a path can match.

Starlette's router tries every route in order, a regular expression each, until one
matches: with the API, the webhooks and the kit's routes that is some 25 tries for
``/monitoring/live``, the largest cost of a probe's answer. :class:`PrefixRouter` looks at
the path's first segment first (``/api/...``, ``/webhook/...``, ``/monitoring/...``) and
tries, in their order, only the routes whose template starts with that segment, plus any
whose first segment is a parameter. A request none of those routes takes (a 404) goes to
Starlette's own loop unchanged, so its answer is exactly what it was.

Before that, a path that is some route's whole template (``/monitoring/live``, no
parameters) is looked up in a dict: the route is taken at once when it matches fully and
no route before it could match that path at all, which is what Starlette's loop would
have found first. Anything else (another method, say) goes on as above.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

_ANY = ""  # the bucket key of routes whose first segment is a parameter, or unknown


def first_segment(path: str) -> str:
    """``/api/users/{id}`` -> ``api``; ``/{x}`` and the root -> ``""``."""
    head = path[1:].partition("/")[0]
    return _ANY if "{" in head else head


class PrefixRouter(Router):
    """:class:`starlette.routing.Router`, dispatching HTTP requests by first path segment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._buckets: dict[str, list[BaseRoute]] = {}
        self._exact: dict[str, Route] = {}
        self._indexed: tuple[int, int] = (0, -1)  # (id, length) of the list indexed

    def _index(self) -> dict[str, list[BaseRoute]]:
        """Bucket per first segment, each in the routes' own order; rebuilt when a route is
        added or the list replaced (``app.add_route``, ``app.router.routes = ...``)."""
        if self._indexed != (id(self.routes), len(self.routes)):
            keys = [first_segment(getattr(r, "path_format", None) or "/{any}") for r in self.routes]
            buckets: dict[str, list[BaseRoute]] = {k: [] for k in keys}
            for route, key in zip(self.routes, keys, strict=True):
                for name, bucket in buckets.items():
                    if key in (name, _ANY):
                        bucket.append(route)
            buckets.setdefault(_ANY, [])
            self._exact = exact_routes(self.routes)
            self._buckets, self._indexed = buckets, (id(self.routes), len(self.routes))
        return self._buckets

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        buckets = self._index()
        path = _route_path(scope)
        if "router" not in scope:
            scope["router"] = self
        exact = self._exact.get(path)
        if exact is not None:
            match, child_scope = exact.matches(scope)
            if match is Match.FULL:  # no route before it matches this path: Starlette's pick
                scope["route"] = exact
                scope.update(child_scope)
                await exact.handle(scope, receive, send)
                return
        candidates = buckets.get(first_segment(path), buckets[_ANY])
        partial = partial_scope = None
        for route in candidates:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None and partial_scope is not None:
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        await super().app(scope, receive, send)  # nothing here takes it: Starlette decides


def exact_routes(routes: list[BaseRoute]) -> dict[str, Route]:
    """Path -> the route Starlette's loop would try first for a request with exactly that
    path, for each plain :class:`Route` without parameters that no route before it could
    match (a route before it of another kind, such as a ``Mount``, ends the search: what
    it matches is its own business)."""
    exact: dict[str, Route] = {}
    earlier: list[Route] = []
    for route in routes:
        if type(route) is WebSocketRoute:  # never matches an HTTP request
            continue
        if type(route) is not Route:
            break
        path = route.path
        if not route.param_convertors and not any(e.path_regex.match(path) for e in earlier):
            exact[path] = route
        earlier.append(route)
    return exact


def _route_path(scope: Scope) -> str:
    """The path without the root path, as Starlette's routes see it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path
