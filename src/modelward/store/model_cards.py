"""Model card revisions and attachments. Never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelward.errors import NotFound
from modelward.formats.cards import CardRevision
from modelward.store.artifact_index import record_blob
from modelward.store.dialect import aware
from modelward.store.rows import ModelCardAttachmentRow, ModelCardRevisionRow


def _revision(row: ModelCardRevisionRow) -> CardRevision:
    return CardRevision(revision=row.revision, card=row.card, author=row.author, comment=row.comment,
                        created_at=aware(row.created_at))


def add_revision(
    session: Session, version_pk: int, card: dict[str, Any], *, author: str | None, comment: str | None, now: datetime,
) -> CardRevision:
    """Append the next revision; the caller holds the version's row lock, so numbers never repeat."""
    last = session.scalar(
        select(func.max(ModelCardRevisionRow.revision)).where(ModelCardRevisionRow.version_pk == version_pk)
    )
    row = ModelCardRevisionRow(version_pk=version_pk, revision=(last or 0) + 1, card=card, author=author,
                               comment=comment, created_at=now)
    session.add(row)
    session.flush()
    return _revision(row)


def revisions(session: Session, version_pk: int) -> list[CardRevision]:
    rows = session.scalars(
        select(ModelCardRevisionRow).where(ModelCardRevisionRow.version_pk == version_pk)
        .order_by(ModelCardRevisionRow.revision)
    )
    return [_revision(row) for row in rows]


def add_attachment(
    session: Session, version_pk: int, *, kind: str, title: str, digest: str, size: int,
    media_type: str, created_by: str | None, now: datetime,
) -> None:
    record_blob(session, digest, size)
    session.add(ModelCardAttachmentRow(
        version_pk=version_pk, kind=kind, title=title, digest=digest, size=size, media_type=media_type,
        created_by=created_by, created_at=now,
    ))
    session.flush()


def attachment_digest(session: Session, version_pk: int, digest: str) -> tuple[str, int]:
    """(media type, size) of an attachment of this version, or NotFound: only its own blobs are served."""
    row = session.scalar(
        select(ModelCardAttachmentRow).where(
            ModelCardAttachmentRow.version_pk == version_pk, ModelCardAttachmentRow.digest == digest
        ).limit(1)
    )
    if row is None:
        raise NotFound(f"attachment {digest} does not exist on this model version's card")
    return row.media_type, row.size
