"""What each role may do. The one table every interface's checks come from."""

from __future__ import annotations

import enum

from modelward.domain.actors import Role


class Permission(str, enum.Enum):
    READ = "read"          # see anything
    WRITE = "write"        # log runs, register models, upload artifacts
    REVIEW = "review"      # comment, request changes, fill risk assessments
    APPROVE = "approve"    # approve or reject model versions
    ADMIN = "admin"        # users, tokens, policies, garbage collection


PERMISSIONS_BY_ROLE: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.CONTRIBUTOR: frozenset({Permission.READ, Permission.WRITE}),
    Role.REVIEWER: frozenset({Permission.READ, Permission.REVIEW}),
    # Risk and compliance officers sign off when a policy names their role; the
    # governance service refuses an approval from anyone the policy does not name.
    Role.RISK: frozenset({Permission.READ, Permission.REVIEW, Permission.APPROVE}),
    Role.COMPLIANCE: frozenset({Permission.READ, Permission.REVIEW, Permission.APPROVE}),
    Role.APPROVER: frozenset({Permission.READ, Permission.REVIEW, Permission.APPROVE}),
    Role.ADMIN: frozenset(Permission),
}


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= PERMISSIONS_BY_ROLE[role]
    return frozenset(granted)
