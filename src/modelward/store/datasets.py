"""Dataset queries: datasets are lineage artifacts of a data kind. Never commit."""

from __future__ import annotations

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
