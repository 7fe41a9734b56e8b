"""Single sign-on pages: the start of the identity provider's sign-in, and its callback.

The rules (PKCE, state, nonce, roles from groups, the session) live in services/oidc.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelward.api.decoding import JsonRoute
from modelward.api.deps import SESSION_COOKIE
from modelward.api.errors import status_of
from modelward.errors import ModelwardError, NotFound
from modelward.services import oidc
from modelward.ui.pages import _local_path
from modelward.ui.rendering import add_globals, render

router = APIRouter(route_class=JsonRoute, prefix="/ui/sso", include_in_schema=False)
FLOW_COOKIE = "modelward_sso_flow"
PUBLIC_PATHS = {"/ui/sso/login", "/ui/sso/callback"}


def sso_provider_name(request: Request) -> str | None:
    return oidc.provider_name(request.app.state.settings)


add_globals(sso_provider_name=sso_provider_name)


def _require_sso(request: Request) -> None:
    if not oidc.enabled(request.app.state.settings):
        raise NotFound("single sign-on is not configured on this server (auth, oidc_issuer, oidc_client_id)")


def _callback_url(request: Request) -> str:
    return request.app.state.settings.oidc_redirect_url or str(request.url_for("sso_callback"))


@router.get("/login")
def sso_login(request: Request, next: str = "/ui/") -> Response:
    _require_sso(request)
    try:
        start = oidc.begin_sign_in(request.app.state.settings, redirect_url=_callback_url(request),
                                   next_path=_local_path(next))
    except ModelwardError as exc:
        return _refused(request, exc, next)
    response = RedirectResponse(start.authorize_url, status_code=303)
    # Lax, not Strict: the provider's redirect back is a cross-site navigation, which must carry it.
    response.set_cookie(FLOW_COOKIE, start.flow_cookie, max_age=oidc.FLOW_LIFETIME_S, path="/ui/sso",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


@router.get("/callback", name="sso_callback")
def sso_callback(request: Request, code: str | None = None, state: str | None = None, error: str | None = None,
                 error_description: str | None = None) -> Response:
    _require_sso(request)
    try:
        signed_in = oidc.finish_sign_in(
            request.app.state.backend, request.app.state.settings, flow_cookie=request.cookies.get(FLOW_COOKIE),
            state=state, code=code, error=error, error_description=error_description,
        )
    except ModelwardError as exc:
        return _refused(request, exc, "/ui/")
    response = RedirectResponse(_local_path(signed_in.next_path), status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/ui/sso")
    # Lax as well: this answer ends a navigation that began on the provider's site.
    response.set_cookie(SESSION_COOKIE, signed_in.session_token, expires=signed_in.expires_at, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return response


def _refused(request: Request, exc: ModelwardError, next: str) -> HTMLResponse:
    response = render(request, "login.html", status_code=status_of(exc), next=_local_path(next),
                      message=f"Single sign-on failed: {exc}")
    response.delete_cookie(FLOW_COOKIE, path="/ui/sso")
    return response
