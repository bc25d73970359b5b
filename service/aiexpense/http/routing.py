"""A Starlette router that tries only the routes a path can match.

Starlette's router tries every route in order, a regular expression each, until one
matches: with the API, the webhooks and the kit's routes that is some 25 tries for
``/monitoring/live``, the largest cost of a probe's answer. :class:`PrefixRouter` looks at
the path's first segment first (``/api/...``, ``/webhook/...``, ``/monitoring/...``) and
tries, in their order, only the routes whose template starts with that segment, plus any
whose first segment is a parameter. A request none of those routes takes (a 404) goes to
Starlette's own loop unchanged, so its answer is exactly what it was.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Match, Router
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
            self._buckets, self._indexed = buckets, (id(self.routes), len(self.routes))
        return self._buckets

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        buckets = self._index()
        candidates = buckets.get(first_segment(_route_path(scope)), buckets[_ANY])
        if "router" not in scope:
            scope["router"] = self
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


def _route_path(scope: Scope) -> str:
    """The path without the root path, as Starlette's routes see it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path
