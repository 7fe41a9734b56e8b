"""Authentication and roles, enforced on every route by the service layer's rules."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from modelward.api.app import PUBLIC_PATHS, api_routes, create_app
from modelward.api.deps import declared_permission
from modelward.domain.actors import Role
from modelward.services import users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.fixtures.apps import in_process_app


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[TestClient, Backend]]:
    with in_process_app(Settings(home=tmp_path / "store", auth=True)) as app:
        yield app


def _token(backend: Backend, name: str, *roles: Role) -> tuple[str, str]:
    users.create_user(backend, name, frozenset(roles))
    new = users.create_token(backend, name)
    return new.info.id, new.token


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_no_token_is_401_with_a_json_reason(secured) -> None:  # type: ignore[no-untyped-def]
    http, _ = secured
    response = http.get("/api/v1/experiments")
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert "Bearer" in response.json()["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_wrong_role_is_403_naming_the_permission(secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    _, viewer = _token(backend, "vera", Role.VIEWER)
    assert http.get("/api/v1/experiments", headers=_bearer(viewer)).status_code == 200
    response = http.post("/api/v1/experiments", json={"name": "x"}, headers=_bearer(viewer))
    assert response.status_code == 403
    assert "vera" in response.json()["message"] and "write" in response.json()["message"]


def test_contributor_can_write_and_runs_record_who(secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    _, token = _token(backend, "carl", Role.CONTRIBUTOR)
    experiment = http.post("/api/v1/experiments", json={"name": "x"}, headers=_bearer(token)).json()
    # A claimed user header cannot override the authenticated identity.
    run = http.post("/api/v1/runs", json={"experiment_id": experiment["id"]},
                    headers={**_bearer(token), "x-modelward-user": "mallory"}).json()
    assert run["user"] == "carl"
    assert http.post("/api/v1/gc", headers=_bearer(token)).status_code == 403


def test_an_explicit_acting_claim_changes_nothing_with_auth(secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    _, token = _token(backend, "cora", Role.CONTRIBUTOR)
    users.create_user(backend, "root", frozenset({Role.ADMIN}))
    claim = {"x-modelward-user": "root", "x-modelward-as": "root"}
    assert http.get("/api/v1/experiments", headers=claim).status_code == 401  # a claim is no credential
    experiment = http.post("/api/v1/experiments", json={"name": "x"}, headers=_bearer(token)).json()
    run = http.post("/api/v1/runs", json={"experiment_id": experiment["id"]}, headers={**_bearer(token), **claim})
    assert run.json()["user"] == "cora"
    assert http.put("/api/v1/policies", json={"yaml": "model: m\n"}, headers={**_bearer(token), **claim}).status_code == 403


def test_revoked_token_is_401(secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    token_id, token = _token(backend, "rita", Role.ADMIN)
    assert http.get("/api/v1/experiments", headers=_bearer(token)).status_code == 200
    users.revoke_token(backend, token_id)
    response = http.get("/api/v1/experiments", headers=_bearer(token))
    assert response.status_code == 401 and "revoked" in response.json()["message"]


def test_basic_auth_takes_the_token_as_password(secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    _, token = _token(backend, "bob", Role.VIEWER)
    good = base64.b64encode(f"bob:{token}".encode()).decode()
    wrong_user = base64.b64encode(f"alice:{token}".encode()).decode()
    assert http.get("/api/v1/experiments", headers={"authorization": f"Basic {good}"}).status_code == 200
    assert http.get("/api/v1/experiments", headers={"authorization": f"Basic {wrong_user}"}).status_code == 401


def test_tokens_are_stored_hashed(secured) -> None:  # type: ignore[no-untyped-def]
    _, backend = secured
    _, token = _token(backend, "hash", Role.VIEWER)
    with backend.engine.connect() as connection:
        stored = [row[0] for row in connection.exec_driver_sql("SELECT digest FROM api_tokens")]
    assert token not in stored and len(stored[0]) == 64


def test_every_route_declares_a_permission_and_refuses_anonymous_callers(secured) -> None:  # type: ignore[no-untyped-def]
    http, _ = secured
    routes = [r for r in api_routes(http.app.routes) if r.path not in PUBLIC_PATHS]
    assert len(routes) > 20
    for route in routes:
        assert declared_permission(route) is not None, route.path
        path = route.path.replace("{path:path}", "x").replace("{key:path}", "k")
        path = path.replace("{", "").replace("}", "")
        for method in route.methods - {"HEAD"}:
            response = http.request(method, path, follow_redirects=False)
            if path.startswith("/ui/"):  # pages send people to the sign-in page instead
                assert response.status_code == 303, (method, path, response.status_code)
                assert response.headers["location"].startswith("/ui/login")
            else:
                assert response.status_code == 401, (method, path, response.status_code)


def test_server_refuses_to_bind_beyond_loopback_without_auth(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modelward", "server", "--host", "0.0.0.0", "--port", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "loopback" in result.stderr and "Error:" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3


def test_auth_cli_creates_and_revokes_tokens(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "modelward", "auth", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    assert cli("add-user", "ann", "--role", "reviewer").returncode == 0
    bad = cli("add-user", "ben", "--role", "emperor")
    assert bad.returncode != 0 and "unknown role 'emperor'" in bad.stderr
    created = cli("token", "create", "ann", "--name", "laptop")
    assert created.returncode == 0
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("mw_")
    listing = cli("token", "list").stdout
    assert "ann" in listing and token not in listing
    token_id = created.stdout.split("token id ")[1].split()[0]
    assert cli("token", "revoke", token_id).returncode == 0
    assert "revoked" in cli("token", "revoke", token_id).stdout


def test_a_route_without_a_permission_stops_the_app(tmp_path: Path) -> None:
    from fastapi import APIRouter

    from modelward.api.app import refuse_undeclared_routes

    app = create_app(Settings(home=tmp_path / "store"))
    careless = APIRouter()

    @careless.get("/api/v1/oops")
    def oops() -> dict[str, str]:
        return {}

    app.include_router(careless)
    with pytest.raises(RuntimeError, match="/api/v1/oops declares no permission"):
        refuse_undeclared_routes(app)
