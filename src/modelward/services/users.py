"""Users and API tokens: the administration behind ``modelward auth``."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from modelward.domain.actors import LOCAL_USER, Actor, Role
from modelward.domain.auth import NewToken, TokenInfo, User
from modelward.domain.names import new_id, validate_hierarchical_name
from modelward.errors import AlreadyExists, InvalidInput
from modelward.services.access import token_digest
from modelward.services import audit
from modelward.services.backend import Backend
from modelward.store import auth as store

TOKEN_PREFIX = "mw_"


def parse_roles(names: list[str]) -> frozenset[Role]:
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip().lower()))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidInput(f"unknown role '{name}': choose from {allowed}") from None
    if not roles:
        raise InvalidInput("a user needs at least one role")
    return frozenset(roles)


def _who(actor: Actor | None) -> Actor:
    return actor or Actor(name=LOCAL_USER)


def create_user(backend: Backend, name: str, roles: frozenset[Role], *, actor: Actor | None = None) -> User:
    if "/" in name:
        raise InvalidInput(f"user name '{name}' must not contain '/'")
    validate_hierarchical_name(name, "user")
    with backend.write() as session:
        user = store.create_user(session, name, roles)
        audit.record(session, _who(actor), "user.created", subject_type="user", subject_id=name,
                     details={"roles": user.roles})
        return user


def ensure_user(backend: Backend, name: str, roles: frozenset[Role], *, actor: Actor | None = None) -> User:
    """The user ``name`` with exactly ``roles``: created if missing, its roles set if they differ."""
    try:
        return create_user(backend, name, roles, actor=actor)
    except AlreadyExists:
        pass
    with backend.read() as session:
        current = store.get_user(session, name)
    return current if current.roles == roles else set_roles(backend, name, roles, actor=actor)


def list_users(backend: Backend) -> list[User]:
    with backend.read() as session:
        return store.list_users(session)


def set_roles(backend: Backend, name: str, roles: frozenset[Role], *, actor: Actor | None = None) -> User:
    with backend.write() as session:
        before = store.get_user(session, name).roles
        user = store.set_roles(session, name, roles)
        audit.record(session, _who(actor), "user.roles_changed", subject_type="user", subject_id=name,
                     details={"from": before, "to": user.roles})
        return user


def set_disabled(backend: Backend, name: str, disabled: bool, *, actor: Actor | None = None) -> User:
    with backend.write() as session:
        user = store.set_disabled(session, name, disabled)
        audit.record(session, _who(actor), "user.disabled" if disabled else "user.enabled",
                     subject_type="user", subject_id=name)
        return user


def create_token(
    backend: Backend, user: str, *, name: str | None = None, expires_in_days: int | None = None,
    actor: Actor | None = None,
) -> NewToken:
    """A new secret for ``user``; only its digest is stored, so it is shown once."""
    if expires_in_days is not None and expires_in_days <= 0:
        raise InvalidInput("expires_in_days must be positive")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with backend.write() as session:
        info = store.add_token(
            session, token_id=new_id(), user=user, name=name, digest=token_digest(token), expires_at=expires_at
        )
        # The secret and its digest stay out of the audit trail.
        audit.record(session, _who(actor), "token.created", subject_type="token", subject_id=info.id,
                     details={"user": user, "name": name, "expires_at": expires_at})
    return NewToken(info=info, token=token)


def revoke_token(backend: Backend, token_id: str, *, actor: Actor | None = None) -> TokenInfo:
    with backend.write() as session:
        info = store.revoke_token(session, token_id)
        audit.record(session, _who(actor), "token.revoked", subject_type="token", subject_id=token_id,
                     details={"user": info.user, "name": info.name})
        return info


def list_tokens(backend: Backend, user: str | None = None) -> list[TokenInfo]:
    with backend.read() as session:
        return store.list_tokens(session, user)
