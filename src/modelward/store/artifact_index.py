"""Which blob each run's logical artifact path names, and which blobs exist."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, union
from sqlalchemy.orm import Session

from modelward.domain.tracking import ArtifactFile
from modelward.errors import NotFound
from modelward.store.dialect import aware, upsert
from modelward.store.rows import Base, BlobRow, RunArtifactRow


def _to_entity(row: RunArtifactRow) -> ArtifactFile:
    return ArtifactFile(path=row.path, digest=row.digest, size=row.size, created_at=aware(row.created_at))


def record_blob(session: Session, digest: str, size: int) -> None:
    if session.get(BlobRow, digest) is None:
        session.add(BlobRow(digest=digest, size=size, created_at=datetime.now(UTC)))
        session.flush()


def record(session: Session, run_pk: int, path: str, digest: str, size: int) -> ArtifactFile:
    record_blob(session, digest, size)
    now = datetime.now(UTC)
    upsert(
        session,
        RunArtifactRow,
        [{"run_pk": run_pk, "path": path, "digest": digest, "size": size, "created_at": now}],
        keys=["run_pk", "path"],
        update=["digest", "size", "created_at"],
    )
    return ArtifactFile(path=path, digest=digest, size=size, created_at=now)


def get(session: Session, run_pk: int, path: str) -> ArtifactFile:
    row = session.get(RunArtifactRow, (run_pk, path))
    if row is None:
        raise NotFound(f"artifact '{path}' does not exist in this run")
    return _to_entity(row)


def list_(session: Session, run_pk: int, prefix: str = "") -> list[ArtifactFile]:
    stmt = select(RunArtifactRow).where(RunArtifactRow.run_pk == run_pk).order_by(RunArtifactRow.path)
    if prefix:
        stmt = stmt.where(RunArtifactRow.path.startswith(prefix.rstrip("/") + "/", autoescape=True))
    return [_to_entity(row) for row in session.scalars(stmt)]


def _blob_references() -> list[Any]:
    """Every column that names a blob: any foreign key to ``blobs.digest``, in any table."""
    return [
        column
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if any(key.target_fullname == "blobs.digest" for key in column.foreign_keys)
    ]


def unreferenced_blobs(session: Session, *, older_than: datetime | None = None) -> list[str]:
    """Blobs that nothing names any more (candidates for garbage collection)."""
    referenced = union(*(select(column) for column in _blob_references()))
    stmt = select(BlobRow.digest).where(BlobRow.digest.not_in(referenced))
    if older_than is not None:
        stmt = stmt.where(BlobRow.created_at < older_than)
    return list(session.scalars(stmt))


def is_referenced(session: Session, digest: str) -> bool:
    """Does any row (run artifact, version file, ...) still name the blob ``digest``?"""
    return any(session.scalar(select(column).where(column == digest).limit(1)) is not None
               for column in _blob_references())


def known_blobs(session: Session) -> set[str]:
    return set(session.scalars(select(BlobRow.digest)))


def forget_blobs(session: Session, digests: list[str]) -> None:
    if digests:
        session.execute(delete(BlobRow).where(BlobRow.digest.in_(digests)))
