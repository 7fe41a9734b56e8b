"""Check logged datasets against their expectations, and keep every result with the dataset.

A check reads the dataset's stored snapshot (and any reference data) through the blob store's
verified read, by the digest the store recorded: never a path or URI from the request. A
dataset with no stored data is recorded as 'unchecked', with the reason. A dataset logged with
expectations (SDK ``expectations=``, an MLflow dataset tag ``modelward.expectations``, an
OpenLineage ``modelwardExpectations`` facet) is checked right after it is stored: a failing
check marks the dataset, it never undoes the logging.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, datetime
from collections.abc import Callable
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.datasets import Dataset
from modelward.domain.expectations import (
    TRAINING_SPLITS,
    CheckResult,
    DataCheck,
    Expectations,
    parse_expectations,
    summary,
)
from modelward.errors import InvalidInput, ModelwardError, NotFound
from modelward.services import audit
from modelward.services.backend import Backend
from modelward.store import artifact_index
from modelward.store import datasets as dataset_store
from modelward.store import expectations as store
from modelward.store import lineage as lineage_store
from modelward.store import runs as run_store

log = logging.getLogger(__name__)

EXPECTATIONS_PROPERTY = "expectations"  # the declaration attached to a dataset
CHECK_PROPERTY = "data_check"  # the dataset's latest check, in short
MAX_TABLE_BYTES = 2 * 1024**3
MAX_LIST = 1000
_DIGEST = re.compile(r"^[A-Za-z0-9_\-]+:[0-9a-f]{16,128}$|^[0-9a-f]{64}$")


def resolve(backend: Backend, dataset: str) -> Dataset:
    """A dataset by its id or its digest (which must then name one dataset)."""
    if not isinstance(dataset, str) or not dataset.strip():
        raise InvalidInput("a dataset id or digest is required")
    with backend.read() as session:
        return _resolve(session, dataset.strip())


def _resolve(session: Any, dataset: str) -> Dataset:
    if not _DIGEST.match(dataset):
        return dataset_store.get(session, dataset)
    found = dataset_store.find(session, name=None, digest=dataset, limit=10)
    if not found:
        raise NotFound(f"no dataset has digest '{dataset}'")
    if len(found) > 1:
        raise InvalidInput(f"digest '{dataset}' names {len(found)} datasets ({', '.join(d.id for d in found)}): "
                           "give a dataset id")
    return found[0]


def check(backend: Backend, dataset: str, *, expectations: Any = None, actor: Actor,
          trigger: str = "on_demand") -> DataCheck:
    """Check the dataset against ``expectations`` (a declaration), or the one attached to it."""
    found = resolve(backend, dataset)
    declaration = parse_expectations(expectations) if expectations is not None else _attached(backend, found)
    result = _run(backend, found, declaration)
    return _store(backend, found, declaration, result, trigger=trigger, actor=actor, attach=False)


def checks(backend: Backend, dataset: str, *, limit: int = 100) -> list[DataCheck]:
    """Every stored check of the dataset, newest first."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit}")
    with backend.read() as session:
        found = _resolve(session, dataset.strip())
        return store.of_dataset(session, found.id, limit=limit)


def check_logged(backend: Backend, dataset_id: str, declaration: Expectations, *, actor: Actor,
                 trigger: str) -> DataCheck:
    """Attach the declaration to a just-logged dataset and check it. A problem with the data or its
    reference (no snapshot, an unreadable file) is stored as an 'unchecked' result, never raised:
    the dataset stays logged."""
    with backend.read() as session:
        found = dataset_store.get(session, dataset_id)
    try:
        result = _run(backend, found, declaration)
    except ModelwardError as exc:
        result = CheckResult(status="unchecked", passed=None, reason=str(exc))
    except Exception as exc:  # the dataset is stored: a fault of the check must not turn its logging into an error
        log.exception("checking dataset %s failed", dataset_id)
        result = CheckResult(status="unchecked", passed=None, reason=f"the check failed: {type(exc).__name__}: {exc}")
    return _store(backend, found, declaration, result, trigger=trigger, actor=actor, attach=True)


def _attached(backend: Backend, dataset: Dataset) -> Expectations:
    with backend.read() as session:
        properties = lineage_store.get_artifact(session, dataset.id).properties
    declaration = properties.get(EXPECTATIONS_PROPERTY)
    if not declaration:
        raise InvalidInput(f"dataset '{dataset.name}' ({dataset.id}) has no expectations attached: give some to check")
    return parse_expectations(declaration)


def _run(backend: Backend, dataset: Dataset, declaration: Expectations) -> CheckResult:
    from modelward.evaluation.expectations import check_frame, library

    if dataset.snapshot is None:
        return CheckResult(status="unchecked", passed=None, library=library(),
                           reason=f"dataset '{dataset.name}' has no stored snapshot: log it with a snapshot to check its data")
    frame = stored_table(backend, dataset.snapshot.digest, dataset.snapshot.format, f"the snapshot of dataset '{dataset.name}'")
    references = references_of(backend, declaration, training=lambda: _training_split_frame(backend, dataset))
    return check_frame(frame, declaration, references)


def references_of(backend: Backend, declaration: Expectations, *, training: Callable[[], Any]) -> dict[str, Any]:
    """column -> its reference data, for every distribution expectation; ``training`` gives the
    table that ``reference: training`` stands for (read once, only when some expectation uses it)."""
    loaded: dict[Any, Any] = {}
    references: dict[str, Any] = {}
    for column, spec in declaration.distribution.items():
        ref = spec.reference
        if ref.training:
            if "training" not in loaded:
                loaded["training"] = training()
            frame, name = loaded["training"], column
        else:
            key = (ref.dataset, ref.run_id, ref.path)
            if key not in loaded:
                loaded[key] = _reference_frame(backend, ref.dataset, ref.run_id, ref.path)
            frame, name = loaded[key], ref.column or column
        if name not in frame.columns:
            raise InvalidInput(f"distribution.{column}.reference: the reference data has no column '{name}'")
        references[column] = frame[name]
    return references


def _reference_frame(backend: Backend, dataset: str | None, run_id: str | None, path: str | None) -> Any:
    if dataset is not None:
        found = resolve(backend, dataset)
        if found.snapshot is None:
            raise InvalidInput(f"reference dataset '{found.name}' ({found.id}) has no stored snapshot")
        return stored_table(backend, found.snapshot.digest, found.snapshot.format, f"reference dataset '{found.name}'")
    assert run_id is not None and path is not None  # the declaration requires both
    from modelward.artifacts import normalize_logical_path

    with backend.read() as session:
        stored = artifact_index.get(session, run_store.pk_of(session, run_id), normalize_logical_path(path))
    form = stored.path.rsplit(".", 1)[-1].lower() if "." in stored.path.rsplit("/", 1)[-1] else ""
    return stored_table(backend, stored.digest, form, f"reference file '{stored.path}' of run {run_id}")


def _training_split_frame(backend: Backend, dataset: Dataset) -> Any:
    """What ``reference: training`` means for a dataset check: the split named train (or training)
    of the same parent dataset, the newest if the parent was split more than once."""
    if dataset.parent_id is None:
        raise InvalidInput(f"reference: training compares a split with the training split of its parent; dataset "
                           f"'{dataset.name}' ({dataset.id}) is not a split (log it with parent_id and split)")
    if (dataset.split or "").lower() in TRAINING_SPLITS:
        raise InvalidInput(f"reference: training: dataset '{dataset.name}' ({dataset.id}) is itself the training split "
                           "of its parent: compare it with another reference")
    with backend.read() as session:
        siblings = _splits_of(session, dataset.parent_id)
    training = [s for s in siblings if (s.properties.get("split") or "").lower() in TRAINING_SPLITS]
    if not training:
        raise InvalidInput(f"reference: training: the parent ({dataset.parent_id}) of dataset '{dataset.name}' has no "
                           f"split named {' or '.join(TRAINING_SPLITS)}")
    chosen = Dataset.from_artifact(max(training, key=lambda a: a.created_at))
    return _snapshot_frame(backend, chosen, "training split")


def _splits_of(session: Any, parent_id: str) -> list[Any]:
    from modelward.domain.lineage import Direction, ExecutionType

    execution = lineage_store.find_execution(session, ExecutionType.TRANSFORMATION, f"split-of:{parent_id}")
    if execution is None:
        return []
    return lineage_store.artifacts_of_execution(session, execution.id, Direction.OUTPUT)


def _snapshot_frame(backend: Backend, dataset: Dataset, what: str) -> Any:
    if dataset.snapshot is None:
        raise InvalidInput(f"{what} '{dataset.name}' ({dataset.id}) has no stored snapshot to compare with")
    return stored_table(backend, dataset.snapshot.digest, dataset.snapshot.format, f"{what} '{dataset.name}'")


def stored_table(backend: Backend, digest: str, form: str, what: str) -> Any:
    """The stored bytes of ``digest``, verified against it, read as a table."""
    import pandas as pd

    if form not in ("parquet", "pq", "csv", "tsv", "json"):
        raise InvalidInput(f"{what} is a .{form or '(no suffix)'} file, not a table (parquet, csv, tsv or json)")
    try:
        size = backend.artifacts.size(digest)
    except (FileNotFoundError, OSError):
        raise NotFound(f"the bytes of {what} ({digest}) are not in the artifact store") from None
    if size > MAX_TABLE_BYTES:
        raise InvalidInput(f"{what} is {size} bytes; the limit for a check is {MAX_TABLE_BYTES}")
    data = io.BytesIO(backend.artifacts.read_bytes(digest))  # verified against the digest
    try:
        if form in ("csv", "tsv"):
            return pd.read_csv(data, sep="\t" if form == "tsv" else ",")
        if form == "json":
            return pd.read_json(data)
        return pd.read_parquet(data)
    except Exception as exc:  # a malformed table is a problem of the data, not of the server
        raise InvalidInput(f"{what} could not be read as {form}: {exc}") from None


def _store(backend: Backend, dataset: Dataset, declaration: Expectations, result: CheckResult, *,
           trigger: str, actor: Actor, attach: bool) -> DataCheck:
    document = declaration.document()
    with backend.write() as session:
        dataset_store.get(session, dataset.id)  # still there
        stored = store.add(session, dataset_id=dataset.id, dataset_digest=dataset.digest, trigger=trigger,
                           declaration=document, result=result, checked_by=actor.name,
                           checked_at=datetime.now(UTC))
        updates: dict[str, Any] = {CHECK_PROPERTY: summary(stored)}
        if attach:
            updates[EXPECTATIONS_PROPERTY] = document
        lineage_store.update_artifact_properties(session, dataset.id, updates)
        audit.record(session, actor, "dataset.checked", subject_type="dataset", subject_id=dataset.id,
                     details={"check_id": stored.id, "status": stored.status, "trigger": trigger,
                              "digest": dataset.digest, "failed": summary(stored)["failed"][:50]})
    if stored.status == "failed":
        log.info("dataset %s (%s) failed %s expectation(s)", dataset.name, dataset.id, len(result.failed()))
    return stored


# -- what a version was trained on -------------------------------------------------------------------


def of_version(session: Any, name: str, version: int) -> list[dict[str, Any]]:
    """The latest check of each dataset the version's source run read, in the caller's session:
    [{dataset_id, dataset, digest, split, has_expectations, check_id, status, checked_at, reason,
    failed: [{column, check, expected, failure_count, failure_share, examples, observed}]}];
    ``status`` is None for a dataset never checked."""
    found = []
    for artifact in dataset_store.trained_on(session, name, version):
        latest = next(iter(store.of_dataset(session, artifact.id, limit=1)), None)
        found.append({
            "dataset_id": artifact.id, "dataset": artifact.name, "digest": artifact.digest,
            "split": artifact.properties.get("split"),
            "has_expectations": bool(artifact.properties.get(EXPECTATIONS_PROPERTY)),
            "check_id": latest.id if latest else None, "status": latest.status if latest else None,
            "checked_at": latest.checked_at.isoformat() if latest else None,
            "reason": latest.result.reason if latest else None,
            "failed": [item.model_dump(mode="json") for item in latest.result.failed()] if latest else [],
        })
    return found


def for_version(backend: Backend, name: str, version: int) -> list[dict[str, Any]]:
    with backend.read() as session:
        return of_version(session, name, version)


def version_training_frame(backend: Backend, name: str, version: int) -> Any:
    """What ``reference: training`` means for a version's evaluation data: the source run's input
    split named train (or training), else its only input dataset with a stored snapshot."""
    with backend.read() as session:
        datasets = [Dataset.from_artifact(a) for a in dataset_store.trained_on(session, name, version)]
    named = [d for d in datasets if (d.split or "").lower() in TRAINING_SPLITS and d.snapshot is not None]
    stored = named or [d for d in datasets if d.snapshot is not None]
    if len(stored) != 1:
        what = (f"{len(stored)} input datasets with a snapshot ({', '.join(d.name for d in stored)}) and none is "
                "a split named train" if stored else "no input dataset with a stored snapshot")
        raise InvalidInput(f"reference: training: the source run of version {version} of model '{name}' read "
                           f"{what}: name the reference dataset instead")
    return _snapshot_frame(backend, stored[0], "training dataset")
