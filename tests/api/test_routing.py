"""Gated route lookup picks the same route as the plain walk, for every route the app has."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Match

from modelward.api.app import api_routes, create_app
from modelward.api.routing import PrefixGate, gate_routes, route_paths
from modelward.settings import Settings


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("routing")
    return create_app(Settings(home=home))


def _first_full(routes, path: str, method: str):  # type: ignore[no-untyped-def]
    scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
    partial = None
    for route in routes:
        match, _ = route.matches(dict(scope))
        original = route.route if isinstance(route, PrefixGate) else route
        if match is Match.FULL:
            return original, "full"
        if match is Match.PARTIAL and partial is None:
            partial = original
    return partial, "partial" if partial is not None else "none"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_route_is_found_through_the_gates(app) -> None:  # type: ignore[no-untyped-def]
    plain = list(app.router.routes)
    gated = gate_routes(plain)
    assert sum(isinstance(r, PrefixGate) for r in gated) >= 15  # the routers are gated
    checked = 0
    for route in api_routes(plain):
        path = _concrete(route.path)
        for method in sorted(route.methods or {"GET"}):
            assert _first_full(gated, path, method) == _first_full(plain, path, method), (method, path)
            checked += 1
    for path in ("/nope", "/api/v1/nope", "/ui", "/api/2.0/mlflow/nope", "/ui/static/app.css", "/"):
        for method in ("GET", "POST"):
            assert _first_full(gated, path, method) == _first_full(plain, path, method), (method, path)
    assert checked > 200


def test_paths_of_an_included_router_are_complete(app) -> None:  # type: ignore[no-untyped-def]
    paths = [p for route in app.router.routes for p in (route_paths(route) or [])]
    assert set(paths) >= {r.path for r in api_routes(app.router.routes)}


def test_a_live_app_answers_through_the_gates(app) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/ui", follow_redirects=False).status_code in (200, 307)
        assert client.post("/api/2.0/mlflow/runs/log-metric", json={}).status_code == 400
        assert client.get("/api/v1/nope").status_code == 404


def test_a_route_added_after_start_is_served(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    late = create_app(Settings(home=tmp_path))
    with TestClient(late) as client:
        assert client.get("/health").status_code == 200  # gates drawn
        late.add_api_route("/late/probe", lambda: {"late": True}, methods=["GET"])
        assert client.get("/late/probe").json() == {"late": True}
