"""The route template a request matched (``/users/{user_id}``), for a bounded route label.

Starlette's router leaves the route it matched in ``scope["route"]`` once the request has
been dispatched; a mount's inner router overwrites it with its own route, whose path is
relative to the mount, and FastAPI (0.137 and later) keeps included routers nested, their
routes' paths without the include prefix. So the full template is looked up, on the way
out, in a table from route object to template built by walking the app's route tree from
``scope["router"]`` (FastAPI's trees through its public ``iter_route_contexts``). The walk
happens when a route object is first seen, so routes added after start-up are found too,
and never before the first request (when an app may not have its routes yet).

A route object reachable under several templates (one router included twice, a sub-app
mounted twice) is told apart by matching the request's path against each template.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from re import Pattern
from typing import Any, Final

from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import Scope

UNMATCHED: Final = "unmatched"  # no route matched (a 404 from the router, a slash redirect)


class RouteTemplates:
    """``template(scope, route_path)``: the full template of the route in ``scope`` (a
    dispatched request's), else UNMATCHED; ``route_path`` is the path without the root path."""

    def __init__(self) -> None:
        # id(route) -> (route, [(template, regex)]): the route is kept so its id stays its own
        self._table: dict[int, tuple[Any, list[tuple[str, Pattern[str]]]]] = {}

    def template(self, scope: Scope, route_path: str) -> str:
        # FastAPI's router leaves no "route" for a mount or a plain Starlette route, only the
        # mounted app or the route's endpoint as "endpoint"
        route = scope.get("route") or scope.get("endpoint")
        if route is None:
            return UNMATCHED
        entry = self._table.get(id(route))
        if entry is None or entry[0] is not route:
            entry = self._learn(scope, route)
        candidates = entry[1]
        if len(candidates) == 1:
            return candidates[0][0]
        for template, regex in candidates:
            if regex.match(route_path):
                return template
        return candidates[0][0]

    def _learn(self, scope: Scope, route: Any) -> tuple[Any, list[tuple[str, Pattern[str]]]]:
        found: dict[int, tuple[Any, list[tuple[str, Pattern[str]]]]] = {}
        for leaf, template in walk(getattr(scope.get("router"), "routes", ())):
            _, candidates = found.setdefault(id(leaf), (leaf, []))
            if all(t != template for t, _ in candidates):
                candidates.append((template, _regex(template)))
        if id(route) not in found:  # not reachable from the top router: its own template
            own = getattr(route, "path_format", None) or UNMATCHED
            found[id(route)] = (route, [(own, _regex(own))])
        self._table.update(found)  # keeps what was learnt of objects the walk cannot reach
        return found[id(route)]


_NEVER: Final = re.compile(r"(?!)")


def _regex(template: str) -> Pattern[str]:
    try:
        return compile_path(template)[0]
    except (ValueError, AssertionError):  # a template Starlette itself would refuse
        return _NEVER


def walk(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[Any, str]]:
    """(route object, full template) for every route under ``routes``, mounts included
    (a mount, and the app it mounts, are ``/prefix/{path}``: what a request inside it that
    matched nothing, or a mounted app without routes, reports)."""
    for route, path_format in _flatten(routes):
        template = prefix + path_format
        yield route, template
        if isinstance(route, Mount):
            yield route.app, template
        elif getattr(route, "endpoint", None) is not None:
            # FastAPI's router leaves no "route" for a plain Starlette route either
            # (``app.add_route``), only its endpoint, which several routes may share
            yield route.endpoint, template
        inner = getattr(route, "routes", None)
        if inner:
            if isinstance(route, Mount):
                yield from walk(inner, template.removesuffix("/{path}"))
            else:  # Host and other route groups add no path
                yield from walk(inner, prefix)


def _flatten(routes: Iterable[BaseRoute]) -> Iterator[tuple[Any, str]]:
    routes = list(routes)
    fastapi_routing = sys.modules.get("fastapi.routing")  # only when the app uses FastAPI
    iter_route_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_route_contexts is None:
        for route in routes:
            yield route, getattr(route, "path_format", "") or ""
        return
    for context in iter_route_contexts(routes):
        yield context.original_route, context.path_format or ""
