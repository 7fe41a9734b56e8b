"""Authentication and authorisation of requests: who is calling, and may they do this.

With ``MODELWARD_AUTH`` each request carries an API token, as ``Bearer <token>`` or as
HTTP basic auth with the token as password (what MLflow clients send for
MLFLOW_TRACKING_USERNAME/PASSWORD), and the user's roles decide; claimed names change
nothing (a basic-auth name must match the token's user). With single sign-on configured
(``oidc_issuer``), the identity provider's access tokens (JWTs) are taken the same ways
(services/oidc.py).

Without it (the server then binds to loopback only, or the store is embedded):

* a request that names no one explicitly is the machine's operator: the local admin,
  recorded under the name the SDK labels it with (its OS user), else ``local``;
* a request that explicitly acts as someone (``Client(user=...)``, the CLI's ``--as``,
  sent as ``x-modelward-as``) gets exactly the roles of that stored user
  (``modelward auth add-user``), and the route's permission is checked as with auth. A
  name the store does not know gets the contributor role only (log runs, register), and a
  disabled user is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime

from modelward.domain.access import Permission, permissions_of
from modelward.domain.actors import LOCAL_USER, Actor, Role
from modelward.errors import NotFound, PermissionDenied, Unauthenticated
from modelward.services.backend import Backend
from modelward.settings import Settings
from modelward.store import auth as store


def token_digest(token: str) -> str:
    # Tokens are 256-bit random secrets, so a fast hash is enough (no brute force to slow).
    return hashlib.sha256(token.encode()).hexdigest()


MAX_NAME_CHARS = 256
# What an explicit claim of a name the store does not know may do: record work, not govern it.
UNKNOWN_USER_ROLES = frozenset({Role.CONTRIBUTOR})


def local_operator(label: str | None) -> Actor:
    """Without auth, a request naming no one explicitly: the operator, as the local admin.

    ``label`` (the SDK's OS user name) only names the operator in the records."""
    return Actor(name=(label or LOCAL_USER)[:MAX_NAME_CHARS], roles=frozenset({Role.ADMIN}))


anonymous_local_actor = local_operator  # the former name


def operator_without_lookup(settings: Settings, *, label: str | None, acting_as: str | None) -> Actor | None:
    """The caller when knowing it takes no I/O (no auth, no explicit claim), else None."""
    if settings.auth or (acting_as and acting_as.strip()):
        return None
    return local_operator(label)


def _add_user_hint(name: str) -> str:
    return f"add it with 'modelward auth add-user {name} --role ROLE'"


def explicit_actor(backend: Backend, name: str) -> tuple[Actor, bool]:
    """Without auth, the stored user a request explicitly acts as: (actor, known to the store)."""
    name = name.strip()[:MAX_NAME_CHARS]
    try:
        with backend.read() as session:
            user = store.get_user(session, name)
    except NotFound:
        return Actor(name=name, roles=UNKNOWN_USER_ROLES), False
    if user.disabled:
        raise PermissionDenied(f"user '{user.name}' is disabled (re-enable it before acting as it)")
    return Actor(name=user.name, roles=user.roles), True


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


def authenticate(backend: Backend, authorization: str | None, settings: Settings | None = None) -> Actor:
    """The caller an API token names or, with single sign-on configured (``settings``), the
    identity provider's access token (a JWT: services/oidc.py)."""
    claimed, token = _credentials(authorization)
    from modelward.services import oidc

    if settings is not None and oidc.enabled(settings) and oidc.looks_like_jwt(token):
        return oidc.authenticate_bearer(backend, settings, token, claimed=claimed)
    with backend.read() as session:
        found = store.find_by_digest(session, token_digest(token))
    if found is None:
        if oidc.looks_like_jwt(token):
            raise Unauthenticated(
                "a JWT is no API token: the API takes one only with single sign-on (auth and oidc_issuer) configured"
            )
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
    acting_as_user: str | None = None,
) -> Actor:
    """The caller of one request, allowed ``permission``, or the error refusing it.

    ``claimed_user`` is the implicit label (``x-modelward-user``), ``acting_as_user`` the
    explicit claim (``x-modelward-as``); both matter only without auth."""
    if not settings.auth:
        if not acting_as_user or not acting_as_user.strip():
            return local_operator(claimed_user)
        actor, known = explicit_actor(backend, acting_as_user)
        if not known and permission not in permissions_of(actor.roles):
            raise PermissionDenied(
                f"user '{actor.name}' is unknown to this store, so it may only read and log work "
                f"(contributor), and this needs the '{permission.value}' permission: "
                + _add_user_hint(actor.name)
            )
        authorize(actor, permission)
        return actor
    actor = authenticate(backend, authorization, settings)
    authorize(actor, permission)
    return actor
