"""Annotated dependencies, so route signatures read as prose, and the per-route permission.

Every route declares the permission it needs with ``dependencies=[READ]`` (or WRITE,
REVIEW, APPROVE, ADMIN). ``create_app`` refuses to start if a route declares none:
deny by default.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from modelward.domain.access import Permission
from modelward.domain.actors import Actor
from modelward.services.backend import Backend


# Dependencies are async where they do no I/O: FastAPI runs sync ones in a worker
# thread, and each hop costs more than the work itself on the hot paths.
async def get_backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]


# Without auth: the SDK's label for the operator (its OS user), and an explicit claim to act
# as a stored user (``Client(user=...)``, ``--as``). With auth the token decides.
USER_LABEL_HEADER = "x-modelward-user"
ACT_AS_HEADER = "x-modelward-as"


async def get_actor(request: Request) -> Actor:
    """The caller, as authenticated by the route's permission dependency."""
    actor = getattr(request.state, "actor", None)
    if actor is None:  # only routes without a permission (health checks) get here
        from modelward.services import access

        actor = access.local_operator(request.headers.get(USER_LABEL_HEADER))
    return actor  # type: ignore[no-any-return]


SESSION_COOKIE = "modelward_session"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _credentials(request: Request) -> str | None:
    """The Authorization header, or the web UI's session cookie (which holds a token)."""
    header = request.headers.get("authorization")
    if header:
        return header
    cookie = request.cookies.get(SESSION_COOKIE)
    page_named = request.headers.get("origin") or request.headers.get("sec-fetch-site")
    if cookie and request.method not in _SAFE_METHODS and not page_named:
        from modelward.errors import PermissionDenied

        # Browsers send Origin (and Sec-Fetch-Site) on state-changing requests; the guards
        # middleware (api/guards.py) refused any that names another site.
        raise PermissionDenied("a cookie-authenticated change must carry an Origin header")
    return f"Bearer {cookie}" if cookie else None


def _authorizer(permission: Permission) -> Any:
    async def authorize(request: Request) -> None:
        from modelward.services import access

        settings = request.app.state.settings
        label, acting_as = request.headers.get(USER_LABEL_HEADER), request.headers.get(ACT_AS_HEADER)
        operator = access.operator_without_lookup(settings, label=label, acting_as=acting_as)
        if operator is not None:  # no I/O: decide on the event loop
            request.state.actor = operator
            return
        request.state.actor = await run_in_threadpool(
            access.authorize_request,
            request.app.state.backend,
            settings,
            authorization=_credentials(request) if settings.auth else None,
            claimed_user=label,
            acting_as_user=acting_as,
            permission=permission,
        )

    authorize.modelward_permission = permission  # type: ignore[attr-defined]
    return Depends(authorize)


READ = _authorizer(Permission.READ)
WRITE = _authorizer(Permission.WRITE)
REVIEW = _authorizer(Permission.REVIEW)
APPROVE = _authorizer(Permission.APPROVE)
ADMIN = _authorizer(Permission.ADMIN)


def declared_permission(route: Any) -> Permission | None:
    for dependency in getattr(route, "dependencies", []):
        permission = getattr(dependency.dependency, "modelward_permission", None)
        if permission is not None:
            return permission  # type: ignore[no-any-return]
    return None


BackendDep = Annotated[Backend, Depends(get_backend)]
ActorDep = Annotated[Actor, Depends(get_actor)]
