"""Dataset queries: datasets are lineage artifacts of a data kind. Never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from modelward.domain.datasets import DATASET_KINDS, Dataset, Snapshot
from modelward.errors import NotFound
from modelward.store import artifact_index
from modelward.store import lineage as lineage_store
from modelward.store import runs as run_store


def get(session: Session, dataset_id: str) -> Dataset:
    artifact = lineage_store.get_artifact(session, dataset_id)
    if artifact.kind not in DATASET_KINDS:
        raise NotFound(f"lineage artifact '{dataset_id}' is a {artifact.kind.value}, not a dataset")
    return Dataset.from_artifact(artifact)


def find(session: Session, *, name: str | None, digest: str | None, limit: int) -> list[Dataset]:
    artifacts = lineage_store.list_artifacts(session, kinds=DATASET_KINDS, name=name, digest=digest, limit=limit)
    return [Dataset.from_artifact(artifact) for artifact in artifacts]


def snapshot_file(session: Session, run_id: str, path: str) -> Snapshot:
    """A file the run logged, as a dataset snapshot (its digest comes from the artifact index)."""
    stored = artifact_index.get(session, run_store.pk_of(session, run_id), path)
    suffix = stored.path.rsplit("/", 1)[-1].rpartition(".")[2].lower() if "." in stored.path.rsplit("/", 1)[-1] else ""
    return Snapshot(run_id=run_id, path=stored.path, digest=stored.digest, size=stored.size, format=suffix or "file")


def trained_on(session: Session, name: str, version: int) -> list[Any]:
    """The lineage artifacts of the datasets a version's source run read (its training data), in
    lineage order; none when the version came from no run of this store."""
    from modelward.domain.lineage import Direction
    from modelward.store import registry as registry_store

    row = registry_store.version_row(session, name, version)
    if not row.source_run_id:
        return []
    execution = lineage_store.execution_of_run(session, row.source_run_id)
    if execution is None:
        return []
    return [a for a in lineage_store.artifacts_of_execution(session, execution.id, Direction.INPUT)
            if a.kind in DATASET_KINDS]

