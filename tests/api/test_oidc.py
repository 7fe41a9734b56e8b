"""Single sign-on: the identity provider's JWTs on the API, and its sign-in for the web UI.

Against a small OpenID Connect provider the tests start themselves (tests/fixtures/identity_provider.py):
first the app in-process (bearer tokens, roles from groups, refusals), then a real
``modelward server`` process (the browser's sign-in through redirects, sign-out, the mlflow client).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from modelward.domain.actors import Role
from modelward.services import audit, users
from modelward.services.backend import Backend
from modelward.settings import Settings
from tests.deployments.helpers import register, set_policy
from tests.fixtures.apps import in_process_app
from tests.fixtures.identity_provider import IdentityProvider, Person, running_identity_provider
from tests.fixtures.people import environ_without_settings
from tests.fixtures.servers import ServerProcess, free_port, start_server, stop_server


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    with running_identity_provider() as provider:
        yield provider


@pytest.fixture
def secured(idp: IdentityProvider, tmp_path: Path) -> Iterator[tuple[TestClient, Backend]]:
    with in_process_app(Settings(home=tmp_path / "store", **idp.settings())) as app:
        yield app


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# --- the API: bearer JWTs ---


def test_a_reviewer_from_the_provider_reviews_and_only_an_approver_approves(idp, secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    set_policy(backend, "credit")
    version = register(backend, "credit")  # registration evaluates it: in review
    path = f"/api/v1/models/credit/versions/{version}"
    reviewer, approver = _bearer(idp.mint("ada", ["ml-reviewers"])), _bearer(idp.mint("grace", ["approvers"]))
    commented = http.post(f"{path}/reviews", json={"comment": "looks fine"}, headers=reviewer)
    assert commented.status_code == 201, commented.text
    assert commented.json()["reviewer"] == "ada"
    refused = http.post(f"{path}/approve", json={}, headers=reviewer)
    assert refused.status_code == 403 and "'approve' permission" in refused.json()["message"]
    approved = http.post(f"{path}/approve", json={}, headers=approver)
    assert approved.status_code == 201, approved.text
    assert http.get(path, headers=reviewer).json()["status"] == "approved"
    # People from the provider are stored users with the mapped roles, their subject on record.
    stored = {user.name: user.roles for user in users.list_users(backend)}
    assert stored["ada"] == {Role.REVIEWER} and stored["grace"] == {Role.APPROVER}
    created = audit.list_(backend, actor="grace", action="user.created")
    assert created[0].details["via"] == "oidc" and created[0].details["subject"].startswith("sub-")
    assert audit.list_(backend, actor="grace", action="model_version.approved")


def _bad_tokens(idp: IdentityProvider) -> dict[str, tuple[str, str]]:
    """What each bad token is, and what its refusal must say."""
    return {
        "expired": (idp.mint(expires_in=-600), "expired at"),
        "audience": (idp.mint(audience="someone-else"), "audience 'someone-else'"),
        "issuer": (idp.mint(issuer="https://evil.example/realms/test"), "issued by 'https://evil.example"),
        "key": (idp.mint(key=idp.other_key()), "signature does not verify"),
        "alg none": (idp.mint(algorithm="none"), "alg 'none', which is refused"),
        "hmac": (idp.mint(algorithm="HS256", key="a-shared-secret-of-32-bytes-long!"), "alg 'HS256', which is refused"),
        "no subject": (idp.mint(sub=None), "'sub'"),
        "not yet": (idp.mint(nbf=4102444800), "not valid yet"),
    }


def test_every_bad_token_is_401_naming_the_problem(idp, secured) -> None:  # type: ignore[no-untyped-def]
    http, _ = secured
    for case, (token, reason) in _bad_tokens(idp).items():
        response = http.get("/api/v1/experiments", headers=_bearer(token))
        assert response.status_code == 401, (case, response.text)
        assert response.json()["error_code"] == "UNAUTHENTICATED"
        assert reason in response.json()["message"], (case, response.json()["message"])


def test_an_unmapped_person_is_403_naming_the_missing_mapping(idp, secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    response = http.get("/api/v1/experiments", headers=_bearer(idp.mint("mallory", ["interns"])))
    assert response.status_code == 403
    message = response.json()["message"]
    assert "'interns'" in message and "oidc_role_mapping" in message
    assert "mallory" not in {user.name for user in users.list_users(backend)}  # refused people are not stored


def test_basic_auth_takes_the_jwt_as_password_for_its_own_user(idp, secured) -> None:  # type: ignore[no-untyped-def]
    http, _ = secured
    token = idp.mint("wes", ["writers"])
    good = base64.b64encode(f"wes:{token}".encode()).decode()
    other = base64.b64encode(f"root:{token}".encode()).decode()
    created = http.post("/api/v1/experiments", json={"name": "sso"}, headers={"authorization": f"Basic {good}"})
    assert created.status_code == 201, created.text
    assert http.get("/api/v1/experiments", headers={"authorization": f"Basic {other}"}).status_code == 401


def test_api_tokens_keep_working_and_a_disabled_user_is_refused(idp, secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    users.create_user(backend, "robot", frozenset({Role.CONTRIBUTOR}))
    machine = users.create_token(backend, "robot").token
    assert http.post("/api/v1/experiments", json={"name": "m"}, headers=_bearer(machine)).status_code == 201
    assert http.get("/api/v1/experiments", headers=_bearer(idp.mint("ada"))).status_code == 200
    users.set_disabled(backend, "ada", True)
    refused = http.get("/api/v1/experiments", headers=_bearer(idp.mint("ada")))
    assert refused.status_code == 403 and "disabled" in refused.json()["message"]


def test_stored_roles_follow_the_provider(idp, secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    assert http.get("/api/v1/experiments", headers=_bearer(idp.mint("ben", ["ml-reviewers"]))).status_code == 200
    promoted = _bearer(idp.mint("ben", ["ml-reviewers", "writers"]))
    assert http.post("/api/v1/experiments", json={"name": "b"}, headers=promoted).status_code == 201
    assert {u.name: u.roles for u in users.list_users(backend)}["ben"] == {Role.REVIEWER, Role.CONTRIBUTOR}
    changed = audit.list_(backend, actor="ben", action="user.roles_changed")
    assert changed and changed[0].details["groups"] == ["ml-reviewers", "writers"]


def test_an_unreachable_provider_is_503_naming_it(idp, tmp_path) -> None:  # type: ignore[no-untyped-def]
    gone = f"http://127.0.0.1:{free_port()}/realms/gone"
    with in_process_app(Settings(home=tmp_path / "store", **idp.settings(oidc_issuer=gone))) as (http, _):
        for _ in range(2):  # the second answer comes from the remembered failure
            response = http.get("/api/v1/experiments", headers=_bearer(idp.mint()))
            assert response.status_code == 503 and gone in response.json()["message"]


def _sign_in_in_process(http: TestClient, next_path: str) -> httpx.Response:
    """The UI's sign-in against the in-process app: the provider is real, the browser is us."""
    started = http.get("/ui/sso/login", params={"next": next_path}, follow_redirects=False)
    back = httpx.get(started.headers["location"])  # the provider approves and sends us back
    return http.get(back.headers["location"], follow_redirects=False)


def test_the_ui_refuses_an_unmapped_person_and_never_leaves_the_site(idp, secured) -> None:  # type: ignore[no-untyped-def]
    http, backend = secured
    landed = _sign_in_in_process(http, "//evil.example/steal")
    assert landed.status_code == 303 and landed.headers["location"] == "/ui/"  # next stays on this site
    http.cookies.clear()
    idp.user = Person("mallory", ["interns"])
    try:
        refused = _sign_in_in_process(http, "/ui/")
    finally:
        idp.user = Person("ada", ["ml-reviewers"])
    assert refused.status_code == 403 and "oidc_role_mapping" in refused.text and "mallory" in refused.text
    assert "modelward_session" not in refused.headers.get("set-cookie", "")
    assert [t.user for t in users.list_tokens(backend)] == ["ada"]  # one session, for ada only


def test_without_single_sign_on_a_jwt_is_refused_and_no_button_shows(idp, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with in_process_app(Settings(home=tmp_path / "store", auth=True)) as (http, _):
        response = http.get("/api/v1/experiments", headers=_bearer(idp.mint()))
        assert response.status_code == 401 and "single sign-on" in response.json()["message"]
        assert "sso-sign-in" not in http.get("/ui/login").text
        assert http.get("/ui/sso/login", follow_redirects=False).status_code == 404


# --- a real server process: the web UI's sign-in, sign-out, the mlflow client ---


@pytest.fixture(scope="module")
def server(idp: IdentityProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("sso-server"), env=idp.environment())
    yield process
    stop_server(process)


def _start(http: httpx.Client, next_path: str = "/ui/") -> httpx.Response:
    """The sign-in page's button, then the provider's (automatic) approval: its redirect to the callback."""
    started = http.get("/ui/sso/login", params={"next": next_path})
    assert started.status_code == 303, started.text
    return http.get(started.headers["location"])


def test_the_ui_signs_in_through_the_provider_and_signs_out(idp, server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as http:
        login = http.get("/ui/models")
        assert urlsplit(str(login.url)).path == "/ui/login"
        assert "Sign in with 127.0.0.1" in login.text
        http.follow_redirects = False
        back = _start(http, "/ui/models")
        assert back.status_code == 302 and back.headers["location"].startswith(server.url + "/ui/sso/callback?")
        query = parse_qs(urlsplit(back.headers["location"]).query)
        sent = idp.authorizations[-1]
        assert sent["code_challenge_method"] == "S256" and sent["state"] == query["state"][0] and sent["nonce"]
        landed = http.get(back.headers["location"])
        assert landed.status_code == 303 and landed.headers["location"] == "/ui/models"
        cookie = landed.headers["set-cookie"].lower()
        assert "modelward_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        session = http.cookies["modelward_session"]
        page = http.get("/ui/models")
        assert page.status_code == 200 and "\">ada</span>" in page.text
        out = http.post("/ui/logout", headers={"origin": server.url})
        assert out.status_code == 303
    # The session ended on the server, not only in this browser's cookie jar.
    with httpx.Client(base_url=server.url, timeout=30, cookies={"modelward_session": session}) as stale:
        again = stale.get("/ui/models")
        assert again.status_code == 303 and again.headers["location"].startswith("/ui/login")


def test_a_foreign_state_is_refused(idp, server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        back = _start(http)
        forged = back.headers["location"].replace("state=", "state=x")
        refused = http.get(forged)
    assert refused.status_code == 401 and "state does not match" in refused.text
    assert "modelward_session" not in http.cookies


def test_a_replayed_answer_and_a_foreign_nonce_are_refused(idp, server) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        back = _start(http)
        flow_cookie = http.cookies["modelward_sso_flow"]
        assert http.get(back.headers["location"]).status_code == 303
        first_nonce = idp.authorizations[-1]["nonce"]
    with httpx.Client(base_url=server.url, timeout=30, cookies={"modelward_sso_flow": flow_cookie}) as replay:
        replayed = replay.get(back.headers["location"])
        assert replayed.status_code == 401 and "already used" in replayed.text
    with httpx.Client(base_url=server.url, timeout=30) as http:
        idp.force_nonce = first_nonce  # an id_token from an earlier sign-in
        try:
            back = _start(http)
            refused = http.get(back.headers["location"])
        finally:
            idp.force_nonce = None
    assert refused.status_code == 401 and "nonce does not match" in refused.text


def test_the_mlflow_client_sends_a_provider_token(idp, server) -> None:  # type: ignore[no-untyped-def]
    """One mlflow process: a writer's run, then the same calls with a reviewer's token (MLflow reads
    MLFLOW_TRACKING_TOKEN at each request)."""
    code = f"""
import os, mlflow
from mlflow.exceptions import MlflowException
mlflow.set_experiment("sso-mlflow")
with mlflow.start_run() as run:
    mlflow.log_metric("m", 1.0)
print("user", run.info.user_id)
os.environ["MLFLOW_TRACKING_TOKEN"] = {idp.mint("ada")!r}
try:
    mlflow.create_experiment("not-for-reviewers")
except MlflowException as exc:
    print("refused", exc.error_code)
"""
    env = {**environ_without_settings(), "MLFLOW_TRACKING_URI": server.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
           "MLFLOW_TRACKING_TOKEN": idp.mint("wes", ["writers"])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "user wes" in done.stdout and "refused PERMISSION_DENIED" in done.stdout, done.stdout


def test_a_browser_signs_in_with_one_click(idp, server, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/ui/")
    page.click("#sso-sign-in")
    page.wait_for_url(server.url + "/ui/")
    assert page.locator(".who span").inner_text() == "ada"
    assert page.console_errors == []
