"""Users and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.domain.actors import Role
from modelward.domain.auth import TokenInfo, User
from modelward.errors import AlreadyExists, NotFound
from modelward.store.dialect import aware
from modelward.store.rows import TokenRow, UserRow


def _user(row: UserRow) -> User:
    return User(
        name=row.name, roles=frozenset(Role(r) for r in row.roles),
        created_at=aware(row.created_at), disabled=row.disabled_at is not None,
    )


def _token(row: TokenRow, user_name: str) -> TokenInfo:
    return TokenInfo(
        id=row.id, user=user_name, name=row.name, created_at=aware(row.created_at),
        expires_at=aware(row.expires_at) if row.expires_at else None,
        revoked_at=aware(row.revoked_at) if row.revoked_at else None,
    )


def _user_row(session: Session, name: str) -> UserRow:
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise NotFound(f"user '{name}' does not exist")
    return row


def create_user(session: Session, name: str, roles: frozenset[Role]) -> User:
    if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
        raise AlreadyExists(f"user '{name}' already exists")
    row = UserRow(name=name, roles=sorted(r.value for r in roles), created_at=datetime.now(UTC))
    session.add(row)
    try:
        session.flush()
    except sa_exc.IntegrityError:  # a concurrent request created the same user between check and insert
        raise AlreadyExists(f"user '{name}' already exists") from None
    return _user(row)


def get_user(session: Session, name: str) -> User:
    return _user(_user_row(session, name))


def list_users(session: Session) -> list[User]:
    return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]


def set_roles(session: Session, name: str, roles: frozenset[Role]) -> User:
    row = _user_row(session, name)
    row.roles = sorted(r.value for r in roles)
    session.flush()
    return _user(row)


def set_disabled(session: Session, name: str, disabled: bool) -> User:
    row = _user_row(session, name)
    row.disabled_at = datetime.now(UTC) if disabled else None
    session.flush()
    return _user(row)


def add_token(
    session: Session, *, token_id: str, user: str, name: str | None, digest: str, expires_at: datetime | None
) -> TokenInfo:
    user_row = _user_row(session, user)
    row = TokenRow(
        id=token_id, user_id=user_row.id, name=name, digest=digest,
        created_at=datetime.now(UTC), expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return _token(row, user_row.name)


def revoke_token(session: Session, token_id: str) -> TokenInfo:
    row = session.get(TokenRow, token_id)
    if row is None:
        raise NotFound(f"token '{token_id}' does not exist")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.flush()
    user = session.get(UserRow, row.user_id)
    assert user is not None
    return _token(row, user.name)


def list_tokens(session: Session, user: str | None = None) -> list[TokenInfo]:
    stmt = select(TokenRow, UserRow.name).join(UserRow, TokenRow.user_id == UserRow.id).order_by(TokenRow.created_at)
    if user is not None:
        stmt = stmt.where(UserRow.name == user)
    return [_token(token, name) for token, name in session.execute(stmt)]


def find_by_digest(session: Session, digest: str) -> tuple[TokenInfo, User] | None:
    found = session.execute(
        select(TokenRow, UserRow).join(UserRow, TokenRow.user_id == UserRow.id).where(TokenRow.digest == digest)
    ).first()
    if found is None:
        return None
    token, user = found
    return _token(token, user.name), _user(user)
