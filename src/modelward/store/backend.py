"""What every service works on: the database engine and the artifact store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from modelward.artifacts import ArtifactStore
from modelward.settings import Settings
from modelward.store.db import ensure_schema, make_engine, read_only, unit_of_work
from modelward.store.statistics import PlannerStatistics

_AFTER_COMMIT = "modelward.after_commit"
_BACKEND = "modelward.backend"
_ROWS_WRITTEN = "modelward.rows_written"


@dataclass
class Backend:
    engine: Engine
    artifacts: ArtifactStore
    audit_signing_key: Path | None = None  # the PEM file that signs audit checkpoints; None: no checkpoints
    sandbox_user: str = "nobody"  # who an isolated evaluation worker runs as (when the server is root)
    statistics: PlannerStatistics = field(init=False)

    def __post_init__(self) -> None:
        self.statistics = PlannerStatistics(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate: bool = True) -> Backend:
        engine = make_engine(settings.resolved_database_url, pool_size=settings.database_pool_size,
                             max_overflow=settings.database_max_overflow)
        if migrate:
            ensure_schema(engine)
        return cls(
            engine=engine,
            artifacts=ArtifactStore(settings.resolved_artifact_root, settings.resolved_artifact_storage_options),
            audit_signing_key=settings.resolved_audit_signing_key, sandbox_user=settings.sandbox_user,
        )

    def private_paths(self) -> list[Path]:
        """Files an untrusted process must never see: the SQLite database (and its journal), the
        local artifact root and the audit signing key."""
        paths: list[Path] = []
        if self.artifacts.local_root is not None:
            paths.append(self.artifacts.local_root)
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            db = Path(url.database).resolve()
            paths += [db.parent, db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        if self.audit_signing_key is not None:
            paths.append(Path(self.audit_signing_key))
        return paths

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction; then, only if it committed, the callbacks ``after_commit`` queued on it."""
        with unit_of_work(self.engine) as session:
            session.info[_BACKEND] = self
            yield session
        for callback in session.info.pop(_AFTER_COMMIT, {}).values():
            callback(self)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with read_only(self.engine) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def after_commit(session: Session, key: str, callback: Callable[[Backend], None]) -> None:
    """Run ``callback(backend)`` once the transaction of ``session`` (from ``Backend.write``) has
    committed, never after a rollback. A later call with the same ``key`` replaces the callback.
    The callback runs outside the transaction and must not use ``session``."""
    session.info.setdefault(_AFTER_COMMIT, {})[key] = callback


def after_commit_pending(session: Session, key: str) -> bool:
    return key in session.info.get(_AFTER_COMMIT, {})


def rows_written(session: Session, table: str, count: int) -> None:
    """The transaction adds ``count`` rows to ``table``: once it commits, the backend's planner
    statistics hear of it (and refresh what a bulk load made stale)."""
    counts: Counter[str] | None = session.info.get(_ROWS_WRITTEN)
    if counts is None:
        counts = session.info[_ROWS_WRITTEN] = Counter()
        after_commit(session, _ROWS_WRITTEN, lambda backend: backend.statistics.note(counts))
    counts[table] += count


def backend_of(session: Session) -> Backend | None:
    """The Backend whose ``write`` opened ``session`` (None for any other session)."""
    return session.info.get(_BACKEND)
