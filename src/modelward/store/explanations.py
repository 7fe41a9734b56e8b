"""Global explanations in the database: one row per computation, revisions counted per version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelward.store.rows.explanations import ExplanationRow


def add(session: Session, version_row: Any, document: dict[str, Any], *, data_digest: str | None,
        created_by: str | None, created_at: datetime) -> int:
    """Store ``document`` as the version's next revision (the caller holds the model's lock) and return it."""
    last = session.scalar(select(func.max(ExplanationRow.revision)).where(ExplanationRow.version_pk == version_row.pk))
    revision = int(last or 0) + 1
    session.add(ExplanationRow(version_pk=version_row.pk, revision=revision, data_digest=data_digest,
                               document={**document, "revision": revision}, created_by=created_by,
                               created_at=created_at))
    session.flush()
    return revision


def revisions(session: Session, version_row: Any) -> list[dict[str, Any]]:
    """Every stored explanation of the version, newest first."""
    rows = session.scalars(select(ExplanationRow).where(ExplanationRow.version_pk == version_row.pk)
                           .order_by(ExplanationRow.revision.desc()))
    return [row.document for row in rows]


def latest(session: Session, version_row: Any) -> dict[str, Any] | None:
    row = session.scalar(select(ExplanationRow).where(ExplanationRow.version_pk == version_row.pk)
                         .order_by(ExplanationRow.revision.desc()).limit(1))
    return row.document if row is not None else None
