"""Route lookup that does not walk every route for every request.

The router tries its routes in order, and FastAPI's included routers cost a few microseconds
each to try: with ~260 routes, finding ``/api/2.0/mlflow/runs/log-metric`` (route 137) or
``/health`` (the last) took 0.3-0.5 ms, more than the service call behind it. ``gate_routes``
puts each top-level route behind the literal path prefixes its routes can match (their first
segments, e.g. ``/api/v1/runs``): a request tries a group only when its path starts with one of
them, which is one ``str.startswith`` per group. Order and matching within a group are unchanged.

:class:`DeferredRoute` keeps start-up from analysing every endpoint twice (see there).
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator
from enum import IntEnum
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, get_name
from starlette.types import Receive, Scope, Send

PREFIX_SEGMENTS = 3  # "/api/v1/runs", "/api/2.0/mlflow", "/ui/models"


class PrefixGate(BaseRoute):
    """One original route (an included router, a mount or a route) behind the prefixes its paths
    start with; answers exactly as the route does for any path under them, NONE for the rest."""

    def __init__(self, route: BaseRoute, prefixes: tuple[str, ...]) -> None:
        self.route = route
        self.prefixes = prefixes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if not path.startswith(self.prefixes):
            return Match.NONE, {}
        return self.route.matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.route.handle(scope, receive, send)

    def __getattr__(self, name: str) -> Any:  # path, name, endpoint, ... as the route has them
        return getattr(self.route, name)


# What FastAPI derives from the endpoint's signature (``_populate_api_route_state``): the part
# a DeferredRoute computes at first use. Everything else is the route's options, set at once.
# Its compiled path too: inside an included router, FastAPI matches with its own copy.
ANALYSED = frozenset({
    "dependant", "body_field", "_embed_body_fields", "response_field", "response_fields",
    "stream_item_field", "is_sse_stream", "is_json_stream", "unique_id", "app",
    "path_regex", "path_format", "param_convertors",
})
_ANALYSIS = threading.RLock()
_OPTIONS = {name: parameter.default
            for name, parameter in inspect.signature(APIRoute.__init__).parameters.items()
            if parameter.kind is parameter.KEYWORD_ONLY}


class DeferredRoute(APIRoute):
    """An APIRoute that analyses its endpoint (parameters, body and response fields, pydantic
    adapters, the request handler) when first asked, not when declared.

    The analysis is most of the cost of declaring a route (~0.5 ms each, ~200 ms for the
    server's 400+ routes), and for a route inside an included router FastAPI never uses it: at
    the router's first request it analyses each route again for that inclusion, and answers,
    matches and documents (OpenAPI) through that copy, reading only the options set here. So a
    route of an included router is analysed once, at its router's first request; reading an
    analysed attribute (``route.dependant``; the compiled path, when the route is matched
    directly rather than through an inclusion) analyses the route itself then. The price: a
    broken declaration (a response model pydantic cannot handle) fails at that first use, where
    the tests meet it, instead of at import. ``response_model`` reads as declared (FastAPI's
    placeholder when not given) until the analysis resolves it.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if options.get("form_limits") is not None or set(options) - set(_OPTIONS):
            super().__init__(path, endpoint, **options)  # not a case to defer (or not one we know)
            return
        for name, default in _OPTIONS.items():
            setattr(self, name, options.get(name, default))
        self.form_limits = {}
        self.path, self.endpoint, self.stream_item_type = path, endpoint, None
        self.methods = {method.upper() for method in (self.methods or ["GET"])}
        self.name = get_name(endpoint) if self.name is None else self.name
        self.tags, self.responses = self.tags or [], self.responses or {}
        self.dependencies = list(self.dependencies or [])
        if isinstance(self.status_code, IntEnum):
            self.status_code = int(self.status_code)
        description = self.description or inspect.cleandoc(endpoint.__doc__ or "")
        self.description = description.split("\f")[0].strip()
        self._deferred = (path, endpoint, options)

    def __getattr__(self, name: str) -> Any:  # only for attributes not set yet
        if name not in ANALYSED:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        with _ANALYSIS:  # a second thread waits for the first one's analysis, then reads it
            deferred = self.__dict__.pop("_deferred", None)
            if deferred is not None:
                path, endpoint, options = deferred
                try:
                    APIRoute.__init__(self, path, endpoint, **options)
                except BaseException:
                    self._deferred = deferred  # the next use fails the same way
                    raise
        return object.__getattribute__(self, name)


def gate_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """``routes`` with each entry behind its prefixes; an entry whose paths are not all known, or
    have no literal prefix (a parameter early on, or "/"), stays as it is and is tried as before."""
    gated: list[BaseRoute] = []
    for route in routes:
        paths = route_paths(route)
        prefixes = _literal_prefixes(paths) if paths else ()
        gated.append(PrefixGate(route, prefixes) if prefixes else route)
    return gated


def route_paths(route: BaseRoute, prefix: str = "") -> list[str] | None:
    """Every path ``route`` serves (an included router's, recursively, with the prefixes it was
    included under); None when some route inside has no path to read."""
    nested = getattr(route, "original_router", None)
    if nested is not None:
        context = getattr(route, "include_context", None)
        inner = prefix + str(getattr(context, "prefix", "") or "")
        paths: list[str] = []
        for child in nested.routes:
            found = route_paths(child, inner)
            if found is None:
                return None
            paths += found
        return paths
    path = getattr(route, "path", None)
    return [prefix + path] if isinstance(path, str) else None


def install(app: Any) -> None:
    """Dispatch ``app``'s requests through gated routes. ``app.router.routes`` stays as it was
    (the OpenAPI schema, url_for and anything that inspects routes see the originals); a route
    added later (a benchmark's probe, a plugin) makes the gates be drawn again."""
    original = app.router
    dispatch = copy.copy(original)
    drawn_for = -1  # how many routes the gates were drawn for

    async def gated(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal drawn_for
        if len(original.routes) != drawn_for:
            dispatch.routes = gate_routes(list(original.routes))
            drawn_for = len(original.routes)
        scope.setdefault("router", original)  # url_for resolves against the original routes
        await dispatch.app(scope, receive, send)

    original.middleware_stack = gated


def ungated(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The original routes (for the OpenAPI schema and anything else that inspects them)."""
    for route in routes:
        yield route.route if isinstance(route, PrefixGate) else route


def _literal_prefixes(paths: list[str]) -> tuple[str, ...]:
    """Each path's text before its first parameter, cut to ``PREFIX_SEGMENTS`` segments: always
    a string prefix of any path the route matches."""
    prefixes: set[str] = set()
    for path in paths:
        literal = path.split("{", 1)[0]
        prefix = "/".join(literal.split("/")[: PREFIX_SEGMENTS + 1])  # "" before the first slash
        if prefix in ("", "/"):
            return ()
        prefixes.add(prefix)
    return tuple(sorted(prefixes))


__all__ = ["DeferredRoute", "PrefixGate", "gate_routes", "install", "route_paths", "ungated"]
