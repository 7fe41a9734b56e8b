"""Who is acting: the user behind a request, with their roles."""

from __future__ import annotations

import enum

from pydantic import BaseModel


class Role(str, enum.Enum):
    VIEWER = "viewer"
    CONTRIBUTOR = "contributor"
    REVIEWER = "reviewer"
    APPROVER = "approver"
    RISK = "risk"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


class Actor(BaseModel):
    name: str
    roles: frozenset[Role] = frozenset({Role.ADMIN})

    def has(self, role: Role) -> bool:
        return role in self.roles or Role.ADMIN in self.roles


LOCAL_USER = "local"
