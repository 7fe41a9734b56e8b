"""Audit events: append to the hash chain, read it back in seq order. Never commit.

Two writers must never chain to the same previous event. ``append`` therefore
serialises appenders for the rest of the caller's transaction: on PostgreSQL with a
transaction-scoped advisory lock taken before the last row is read (released at commit
or rollback); on SQLite every write transaction already holds the database's one write
lock from its first statement (``store.db`` begins writes with BEGIN IMMEDIATE).
Seq is last seq + 1, assigned under that lock, so a rolled-back transaction leaves no gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from modelward.domain.audit import GENESIS_HASH, AuditEvent, event_hash
from modelward.store.dialect import aware
from modelward.store.rows import AuditEventRow, ModelVersionRow, RegisteredModelRow, ReviewRow

__all__ = [  # Session: services type the caller's unit of work with it
    "Session", "append", "approval_reviews", "hash_at", "iter_events", "iter_range", "last", "list_",
    "version_statuses",
]

# int.from_bytes(b"mwaudit"): any constant works, as long as nothing else uses it.
AUDIT_CHAIN_LOCK_KEY = 30_812_032_926_509_428
STREAM_BATCH = 1000


def _to_entity(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        seq=row.seq, at=aware(row.at), actor=row.actor, action=row.action,
        subject_type=row.subject_type, subject_id=row.subject_id, model_name=row.model_name,
        reason=row.reason, details=row.details or {}, prev_hash=row.prev_hash, hash=row.hash,
    )


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK_KEY})


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    model_name: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Chain a new event to the newest one, in the caller's transaction.

    ``details`` must already be plain JSON (the service normalises it), so that what is
    stored reads back equal to what was hashed.
    """
    _lock_chain(session)
    previous = session.execute(
        select(AuditEventRow.seq, AuditEventRow.hash).order_by(AuditEventRow.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (previous.seq + 1, previous.hash) if previous else (1, GENESIS_HASH)
    fields: dict[str, Any] = {
        "seq": seq, "at": datetime.now(UTC), "actor": actor, "action": action,
        "subject_type": subject_type, "subject_id": subject_id, "model_name": model_name,
        "reason": reason, "details": details or {}, "prev_hash": prev_hash,
    }
    row = AuditEventRow(**fields, hash=event_hash(**fields))
    session.add(row)
    session.flush()
    return _to_entity(row)


def _filtered(
    stmt: Select[Any],
    *,
    model: str | None,
    actor: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[Any]:
    if model is not None:
        stmt = stmt.where(AuditEventRow.model_name == model)
    if actor is not None:
        stmt = stmt.where(AuditEventRow.actor == actor)
    if action is not None:
        stmt = stmt.where(AuditEventRow.action == action)
    if since is not None:
        stmt = stmt.where(AuditEventRow.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEventRow.at < until)
    return stmt


def iter_events(
    session: Session,
    *,
    model: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
) -> Iterator[AuditEvent]:
    """Matching events in seq order, fetched in batches (never the whole table at once)."""
    stmt = _filtered(
        select(AuditEventRow), model=model, actor=actor, action=action, since=since, until=until
    ).order_by(AuditEventRow.seq).execution_options(yield_per=STREAM_BATCH)
    for row in session.scalars(stmt):
        yield _to_entity(row)
        session.expunge(row)  # keep the identity map small on long exports


def iter_range(session: Session, first: int, last: int | None = None) -> Iterator[AuditEvent]:
    """The events with ``first <= seq <= last`` (to the head when ``last`` is None), in seq order,
    by primary key in batches: verifying a span reads that span only. Plain column rows, built
    without validation (the values are the stored ones): a third of the cost of ORM entities."""
    columns = [getattr(AuditEventRow, name) for name in _EVENT_FIELDS]
    stmt = select(*columns).where(AuditEventRow.seq >= first)
    if last is not None:
        stmt = stmt.where(AuditEventRow.seq <= last)
    for row in session.execute(stmt.order_by(AuditEventRow.seq).execution_options(yield_per=STREAM_BATCH)):
        fields = dict(zip(_EVENT_FIELDS, row, strict=True))
        fields["at"], fields["details"] = aware(fields["at"]), fields["details"] or {}
        yield AuditEvent.model_construct(**fields)


_EVENT_FIELDS = ("seq", "at", "actor", "action", "subject_type", "subject_id", "model_name", "reason", "details",
                 "prev_hash", "hash")


def list_(
    session: Session,
    *,
    model: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = True,
) -> list[AuditEvent]:
    order = AuditEventRow.seq.desc() if newest_first else AuditEventRow.seq
    stmt = _filtered(
        select(AuditEventRow), model=model, actor=actor, action=action, since=since, until=until
    ).order_by(order).limit(limit).offset(offset)
    return [_to_entity(row) for row in session.scalars(stmt)]


def last(session: Session) -> AuditEvent | None:
    row = session.scalars(select(AuditEventRow).order_by(AuditEventRow.seq.desc()).limit(1)).first()
    return _to_entity(row) if row else None


def hash_at(session: Session, seq: int) -> str | None:
    """The stored hash of the event at ``seq`` (None if there is no such row)."""
    return session.scalar(select(AuditEventRow.hash).where(AuditEventRow.seq == seq))


def version_statuses(session: Session) -> Iterator[tuple[str, int, str]]:
    """(model name, version, status) of every stored model version, streamed."""
    stmt = (
        select(RegisteredModelRow.name, ModelVersionRow.version, ModelVersionRow.status)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .order_by(RegisteredModelRow.name, ModelVersionRow.version)
        .execution_options(yield_per=STREAM_BATCH)
    )
    yield from ((name, version, status) for name, version, status in session.execute(stmt))


def approval_reviews(session: Session) -> Iterator[tuple[str, int, str]]:
    """(model name, version, review id) of every stored approval decision, streamed."""
    stmt = (
        select(RegisteredModelRow.name, ModelVersionRow.version, ReviewRow.id)
        .join(ModelVersionRow, ModelVersionRow.pk == ReviewRow.version_pk)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(ReviewRow.decision == "approve")
        .order_by(RegisteredModelRow.name, ModelVersionRow.version, ReviewRow.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    yield from ((name, version, review_id) for name, version, review_id in session.execute(stmt))
