"""Dataset use cases: record a client-profiled dataset, its splits, and where its snapshot is.

The client computes the digest, schema and statistics (``modelward.sdk.datasets``) and
uploads a snapshot through the artifacts API; the server only records what it is sent
and checks the snapshot against its own artifact index. It never opens a client path or URI.
"""

from __future__ import annotations

from typing import Any

from modelward.artifacts import normalize_logical_path
from modelward.domain.actors import Actor
from modelward.domain.datasets import CLIENT_PROFILE, DATASET_KINDS, DATASET_PATHS, Dataset, DatasetCreate
from modelward.domain.lineage import (
    ArtifactKind,
    ArtifactSpec,
    Direction,
    ExecutionSpec,
    ExecutionType,
)
from modelward.domain.expectations import EXPECTATIONS_TAG, SNAPSHOT_TAG, parse_expectations
from modelward.errors import InvalidInput
from modelward.services import data_checks, lineage
from modelward.services.backend import Backend
from modelward.services.runs import wrote
from modelward.store import datasets as store
from modelward.store import lineage as lineage_store
from modelward.store import run_writers as writer_store
from modelward.store import runs as run_store
from modelward.store.lineage import UnitOfWork

MAX_LIST = 1000


def log(backend: Backend, body: DatasetCreate, *, actor: Actor) -> Dataset:
    """Find or create the dataset (same kind and digest: same dataset) and link it to its run
    (the link records ``actor`` as the run's writer of its inputs or outputs)."""
    body.check()
    declaration = parse_expectations(body.expectations) if body.expectations is not None else None
    kind = ArtifactKind.DATA_SPLIT if body.split is not None else body.kind
    logged = _log(backend, body, kind, actor)
    if declaration is None:
        return logged
    data_checks.check_logged(backend, logged.id, declaration, actor=actor, trigger="sdk")
    return get(backend, logged.id)


def _log(backend: Backend, body: DatasetCreate, kind: ArtifactKind, actor: Actor) -> Dataset:
    with backend.write() as session:
        properties = _properties(session, body)
        artifact = lineage.ensure_dataset(session, ArtifactSpec(kind=kind, name=body.name, digest=body.digest,
                                                                uri=body.location(), properties=properties))
        if body.parent_id is not None:
            _record_split(session, body.parent_id, artifact.id)
        if body.run_id is not None and body.direction is not None:
            link = [ArtifactSpec(id=artifact.id)]
            record = lineage.record_in(
                session, execution=ExecutionSpec(run_id=body.run_id),
                inputs=link if body.direction == "input" else [],
                outputs=link if body.direction == "output" else [],
            )
            if body.path is not None:  # per run: one content may sit at different paths in different runs
                lineage_store.set_execution_entry(session, record.execution.id, DATASET_PATHS, artifact.id, body.path)
            wrote(session, run_store.pk_of(session, body.run_id), actor,
                  writer_store.INPUTS if body.direction == "input" else writer_store.OUTPUTS)
        return store.get(session, artifact.id)


def _properties(session: UnitOfWork, body: DatasetCreate) -> dict[str, object]:
    properties: dict[str, object] = {"source_type": body.source_type, **body.properties}
    if body.data_schema is not None:
        properties["schema"] = body.data_schema.model_dump(mode="json")
    if body.statistics is not None:
        properties["statistics"] = body.statistics.model_dump(mode="json")
    if body.data_schema is not None or body.statistics is not None:
        properties["profile_source"] = CLIENT_PROFILE
    if body.namespace is not None:
        properties["namespace"], properties["ol_name"] = body.namespace, body.name
    if body.parent_id is not None:
        store.get(session, body.parent_id)  # the parent must be a dataset
        properties["parent_id"] = body.parent_id
    if body.split is not None:
        properties["split"] = body.split
    if body.snapshot_path is not None:
        assert body.run_id is not None  # checked by body.check()
        path = normalize_logical_path(body.snapshot_path)
        properties["snapshot"] = store.snapshot_file(session, body.run_id, path).model_dump(mode="json")
    return properties


def _record_split(session: UnitOfWork, parent_id: str, split_id: str) -> None:
    """All splits of one parent come out of one 'split' transformation that read the parent."""
    parent = store.get(session, parent_id)
    lineage.record_in(
        session,
        execution=ExecutionSpec(type=ExecutionType.TRANSFORMATION, external_id=f"split-of:{parent_id}",
                                name=f"split {parent.name}"),
        inputs=[ArtifactSpec(id=parent_id)], outputs=[ArtifactSpec(id=split_id)],
    )


def get(backend: Backend, dataset_id: str) -> Dataset:
    with backend.read() as session:
        return store.get(session, dataset_id)


def find(backend: Backend, *, name: str | None = None, digest: str | None = None, limit: int = 100) -> list[Dataset]:
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit}")
    with backend.read() as session:
        return store.find(session, name=name, digest=digest, limit=limit)


def of_run(backend: Backend, run_id: str, direction: str) -> list[Dataset]:
    """The datasets a run read ('input') or wrote ('output')."""
    if direction not in ("input", "output"):
        raise InvalidInput(f"direction must be 'input' or 'output', got {direction!r}")
    with backend.read() as session:
        run_store.row_of(session, run_id)
        execution = lineage_store.execution_of_run(session, run_id)
        if execution is None:
            return []
        artifacts = lineage_store.artifacts_of_execution(session, execution.id, Direction(direction))
    return [Dataset.from_artifact(a) for a in artifacts if a.kind in DATASET_KINDS]


MLFLOW_DIGEST_PREFIX = "mlflow:"


def log_mlflow_inputs(backend: Backend, run_id: str, inputs: list[dict[str, Any]], *, actor: Actor) -> list[Dataset]:
    """MLflow ``DatasetInput``s (already checked: each has a dataset with name and digest) as
    lineage datasets read by the run. MLflow digests are short and not content hashes we
    can verify, so they are kept as ``mlflow:<digest>``; MLflow's source, schema and profile
    (JSON strings) and the input's tags (e.g. ``mlflow.data.context``) become properties."""
    specs = [_mlflow_spec(item) for item in inputs]
    if not specs:
        return []
    declarations = [_tagged_expectations(spec, index) for index, spec in enumerate(specs)]
    with backend.write() as session:
        record = lineage.record_in(session, execution=ExecutionSpec(run_id=run_id), inputs=specs)
        wrote(session, run_store.pk_of(session, run_id), actor, writer_store.INPUTS)
        for spec, artifact in zip(specs, record.inputs, strict=True):
            _tagged_snapshot(session, run_id, spec, artifact.id)
        logged = [store.get(session, artifact.id) for artifact in record.inputs]
    for dataset, declaration in zip(logged, declarations, strict=True):
        if declaration is not None:
            data_checks.check_logged(backend, dataset.id, declaration, actor=actor, trigger="mlflow")
    return logged


def _tagged_expectations(spec: ArtifactSpec, index: int) -> Any:
    """The declaration in the input's ``modelward.expectations`` tag (JSON), checked before anything is stored."""
    text = (spec.properties.get("mlflow_tags") or {}).get(EXPECTATIONS_TAG)
    if text is None:
        return None
    try:
        return parse_expectations(str(text))
    except InvalidInput as exc:
        raise InvalidInput(f"datasets[{index}] tag {EXPECTATIONS_TAG}: {exc}") from None


def _tagged_snapshot(session: UnitOfWork, run_id: str, spec: ArtifactSpec, dataset_id: str) -> None:
    """A ``modelward.snapshot`` tag names a file the run logged: the dataset's stored data, if it has none yet."""
    path = (spec.properties.get("mlflow_tags") or {}).get(SNAPSHOT_TAG)
    if path is None or store.get(session, dataset_id).snapshot is not None:
        return
    snapshot = store.snapshot_file(session, run_id, normalize_logical_path(str(path)))
    lineage_store.update_artifact_properties(session, dataset_id, {"snapshot": snapshot.model_dump(mode="json")})


def _mlflow_spec(item: dict[str, Any]) -> ArtifactSpec:
    dataset = item["dataset"]
    digest = str(dataset["digest"]).strip()
    properties: dict[str, Any] = {"source_type": "mlflow"}
    for key in ("source_type", "source", "schema", "profile"):
        if dataset.get(key) is not None:
            properties[f"mlflow_{key}"] = str(dataset[key])
    tags = {t["key"]: t["value"] for t in item.get("tags", []) if isinstance(t, dict) and "key" in t}
    if tags:
        properties["mlflow_tags"] = tags
    return ArtifactSpec(kind=ArtifactKind.DATASET, name=str(dataset["name"]),
                        digest=digest if ":" in digest else MLFLOW_DIGEST_PREFIX + digest, properties=properties)
