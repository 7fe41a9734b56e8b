"""Authentication and authorisation of requests: who is calling, and may they do this.

Without ``MODELWARD_AUTH`` every caller is the local admin (the server then binds to
loopback only). With it, each request carries an API token, as ``Bearer <token>`` or as
HTTP basic auth with the token as password (what MLflow clients send for
MLFLOW_TRACKING_USERNAME/PASSWORD), and the user's roles decide.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime

from modelward.domain.access import Permission, permissions_of
from modelward.domain.actors import LOCAL_USER, Actor, Role
from modelward.errors import PermissionDenied, Unauthenticated
from modelward.services.backend import Backend
from modelward.settings import Settings
from modelward.store import auth as store


def token_digest(token: str) -> str:
    # Tokens are 256-bit random secrets, so a fast hash is enough (no brute force to slow).
    return hashlib.sha256(token.encode()).hexdigest()


def anonymous_local_actor(claimed_user: str | None) -> Actor:
    return Actor(name=(claimed_user or LOCAL_USER)[:256], roles=frozenset({Role.ADMIN}))


def _credentials(authorization: str | None) -> tuple[str | None, str]:
    """(claimed user name or None, token) from an Authorization header."""
    if not authorization:
        raise Unauthenticated(
            "authentication required: send 'Authorization: Bearer <token>' "
            "(create a token with 'modelward auth token create USER')"
        )
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return None, value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed basic authorization header") from None
        return user, password
    raise Unauthenticated(f"unsupported authorization scheme '{scheme}': use Bearer or Basic")


def authenticate(backend: Backend, authorization: str | None) -> Actor:
    claimed, token = _credentials(authorization)
    with backend.read() as session:
        found = store.find_by_digest(session, token_digest(token))
    if found is None:
        raise Unauthenticated("invalid API token")
    info, user = found
    if info.revoked_at is not None:
        raise Unauthenticated(f"API token '{info.id}' has been revoked")
    if info.expires_at is not None and info.expires_at <= datetime.now(UTC):
        raise Unauthenticated(f"API token '{info.id}' expired at {info.expires_at.isoformat()}")
    if user.disabled:
        raise Unauthenticated(f"user '{user.name}' is disabled")
    if claimed is not None and claimed != user.name:
        raise Unauthenticated("the user name does not match the token's user")
    return Actor(name=user.name, roles=user.roles)


def authorize(actor: Actor, permission: Permission) -> None:
    if permission not in permissions_of(actor.roles):
        roles = ", ".join(sorted(r.value for r in actor.roles)) or "none"
        raise PermissionDenied(
            f"user '{actor.name}' (roles: {roles}) lacks the '{permission.value}' permission this needs"
        )


def authorize_request(
    backend: Backend,
    settings: Settings,
    *,
    authorization: str | None,
    claimed_user: str | None,
    permission: Permission,
) -> Actor:
    if not settings.auth:
        return anonymous_local_actor(claimed_user)
    actor = authenticate(backend, authorization)
    authorize(actor, permission)
    return actor
