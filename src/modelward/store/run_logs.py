"""Captured stdout/stderr of runs, appended in numbered chunks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelward.domain.tracking import LogChunk
from modelward.store.dialect import aware
from modelward.store.rows import RunLogRow


def append(session: Session, run_pk: int, chunks: Sequence[tuple[str, str]]) -> int:
    """Store chunks after the run's last one; returns the last sequence number."""
    last = session.scalar(select(func.max(RunLogRow.seq)).where(RunLogRow.run_pk == run_pk)) or 0
    now = datetime.now(UTC)
    rows = [
        {"run_pk": run_pk, "seq": last + i, "stream": stream, "text": text, "created_at": now}
        for i, (stream, text) in enumerate(chunks, start=1)
    ]
    if rows:
        session.execute(RunLogRow.__table__.insert(), rows)
    return last + len(rows)


def read(session: Session, run_pk: int, *, after_seq: int = 0, limit: int = 1000) -> list[LogChunk]:
    rows = session.scalars(
        select(RunLogRow)
        .where(RunLogRow.run_pk == run_pk, RunLogRow.seq > after_seq)
        .order_by(RunLogRow.seq)
        .limit(limit)
    )
    return [
        LogChunk(seq=row.seq, stream=row.stream, text=row.text, created_at=aware(row.created_at))
        for row in rows
    ]
