"""Leases: which process runs a scheduled job until when. Functions over a Session; never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from modelward.store.dialect import aware, insert_ignoring_conflict
from modelward.store.rows import SchedulerLeaseRow


def take_lease(session: Session, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
    """Whether ``holder`` holds lease ``name`` until ``until`` after this: it is free (never
    taken, or expired) or already ``holder``'s. One UPDATE decides, so two processes never both win."""
    session.connection().execute(insert_ignoring_conflict(session, SchedulerLeaseRow, keys=["name"]), [{
        "name": name, "holder": "", "expires_at": now, "acquired_at": now}])
    taken = session.execute(
        update(SchedulerLeaseRow)
        .where(SchedulerLeaseRow.name == name,
               (SchedulerLeaseRow.holder == holder) | (SchedulerLeaseRow.expires_at <= now))
        .values(holder=holder, expires_at=until, acquired_at=now)
        .execution_options(synchronize_session=False))
    return bool(taken.rowcount)


def release_lease(session: Session, name: str, holder: str, *, now: datetime) -> None:
    session.execute(update(SchedulerLeaseRow)
                    .where(SchedulerLeaseRow.name == name, SchedulerLeaseRow.holder == holder)
                    .values(expires_at=now).execution_options(synchronize_session=False))


def lease_holder(session: Session, name: str, *, now: datetime) -> str | None:
    found = session.get(SchedulerLeaseRow, name)
    if found is None or aware(found.expires_at) <= now or not found.holder:
        return None
    return found.holder
