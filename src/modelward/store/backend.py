"""What every service works on: the database engine and the artifact store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from modelward.artifacts import ArtifactStore
from modelward.settings import Settings
from modelward.store.db import ensure_schema, make_engine, read_only, unit_of_work


@dataclass
class Backend:
    engine: Engine
    artifacts: ArtifactStore

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate: bool = True) -> Backend:
        engine = make_engine(settings.resolved_database_url)
        if migrate:
            ensure_schema(engine)
        return cls(engine=engine, artifacts=ArtifactStore(settings.resolved_artifact_root))

    @contextmanager
    def write(self) -> Iterator[Session]:
        with unit_of_work(self.engine) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with read_only(self.engine) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
