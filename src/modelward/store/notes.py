"""Notes (annotations) on runs: anyone with access adds them; authors edit them later."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.domain.tracking import Note
from modelward.errors import NotFound
from modelward.store.dialect import aware
from modelward.store.rows import RunNoteRow


def _to_entity(row: RunNoteRow) -> Note:
    return Note(
        id=row.id, author=row.author, text=row.text,
        created_at=aware(row.created_at), updated_at=aware(row.updated_at),
    )


def add(session: Session, run_pk: int, *, author: str | None, text: str) -> Note:
    now = datetime.now(UTC)
    row = RunNoteRow(run_pk=run_pk, author=author, text=text, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return _to_entity(row)


def update(session: Session, run_pk: int, note_id: int, *, text: str) -> Note:
    row = session.get(RunNoteRow, note_id)
    if row is None or row.run_pk != run_pk:
        raise NotFound(f"note {note_id} does not exist on this run")
    row.text = text
    row.updated_at = datetime.now(UTC)
    session.flush()
    return _to_entity(row)


def list_(session: Session, run_pk: int) -> list[Note]:
    rows = session.scalars(
        select(RunNoteRow).where(RunNoteRow.run_pk == run_pk).order_by(RunNoteRow.id)
    )
    return [_to_entity(row) for row in rows]
