"""Users and API tokens: the administration behind ``modelward auth``."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from modelward.domain.actors import Role
from modelward.domain.auth import NewToken, TokenInfo, User
from modelward.domain.names import new_id, validate_hierarchical_name
from modelward.errors import InvalidInput
from modelward.services.access import token_digest
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


def create_user(backend: Backend, name: str, roles: frozenset[Role]) -> User:
    if "/" in name:
        raise InvalidInput(f"user name '{name}' must not contain '/'")
    validate_hierarchical_name(name, "user")
    with backend.write() as session:
        return store.create_user(session, name, roles)


def list_users(backend: Backend) -> list[User]:
    with backend.read() as session:
        return store.list_users(session)


def set_roles(backend: Backend, name: str, roles: frozenset[Role]) -> User:
    with backend.write() as session:
        return store.set_roles(session, name, roles)


def set_disabled(backend: Backend, name: str, disabled: bool) -> User:
    with backend.write() as session:
        return store.set_disabled(session, name, disabled)


def create_token(
    backend: Backend, user: str, *, name: str | None = None, expires_in_days: int | None = None
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
    return NewToken(info=info, token=token)


def revoke_token(backend: Backend, token_id: str) -> TokenInfo:
    with backend.write() as session:
        return store.revoke_token(session, token_id)


def list_tokens(backend: Backend, user: str | None = None) -> list[TokenInfo]:
    with backend.read() as session:
        return store.list_tokens(session, user)
