"""Users and their API tokens (the secret itself is never part of these)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from modelward.domain.actors import Role


class User(BaseModel):
    name: str
    roles: frozenset[Role]
    created_at: datetime
    disabled: bool = False


class TokenInfo(BaseModel):
    id: str
    user: str
    name: str | None = None
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class NewToken(BaseModel):
    """Returned once, at creation: the only time the secret is shown."""

    info: TokenInfo
    token: str
