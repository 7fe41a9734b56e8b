"""Personal data in what the store holds: scans of logged datasets and of prediction logs, kept
with their subject, and what a version's training data was found to hold.

A dataset scan reads the dataset's stored snapshot through the blob store's verified read (by
the digest the store recorded, never a path from the request); a prediction-log scan reads the
newest logged inputs of an endpoint (at most ``sample_rows`` requests). The scan runs in this
process, without network (``modelward.evaluation.personal_data``); findings keep masked examples
only. Each scan is appended (history kept), summarised on the dataset (property
``personal_data``) and audited (``dataset.scanned``, ``prediction_log.scanned``).

``of_version`` gives the findings of the datasets a version's source run read: the privacy
evidence a reviewer sees beside the risk assessment's privacy category.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor
from modelward.domain.personal_data import PersonalDataScan
from modelward.errors import InvalidInput, NotFound
from modelward.services import audit, data_checks
from modelward.services.backend import Backend
from modelward.store import deployments as deployment_store
from modelward.store import datasets as dataset_store
from modelward.store import lineage as lineage_store
from modelward.store import personal_data as store

SCAN_PROPERTY = "personal_data"  # the dataset's latest scan, in short
DEFAULT_SAMPLE_ROWS = 10_000
MAX_SAMPLE_ROWS = 100_000
MAX_LIST = 1000


def _settings(locales: list[str] | tuple[str, ...] | None, sample_rows: int) -> dict[str, Any]:
    if not isinstance(sample_rows, int) or isinstance(sample_rows, bool) or not 1 <= sample_rows <= MAX_SAMPLE_ROWS:
        raise InvalidInput(f"sample_rows must be an integer from 1 to {MAX_SAMPLE_ROWS}, got {sample_rows!r}")
    settings: dict[str, Any] = {"sample_rows": sample_rows, "seed": 0}
    if locales is not None:
        if not isinstance(locales, list | tuple) or not locales or not all(isinstance(x, str) for x in locales):
            raise InvalidInput("locales must be a non-empty list of locale names such as en_US, de_DE")
        settings["locales"] = tuple(locales)
    return settings


def _scanned(frame: Any, settings: dict[str, Any]) -> dict[str, Any]:
    from modelward.evaluation.personal_data import scan

    return scan(frame, **settings).model_dump(mode="json")


def _short(found: PersonalDataScan) -> dict[str, Any]:
    return {"scan_id": found.id, "columns": found.columns(), "kinds": found.kinds,
            "scanned_at": found.scanned_at.isoformat()}


# -- datasets ----------------------------------------------------------------------------------------


def scan_dataset(backend: Backend, actor: Actor, dataset: str, *, locales: list[str] | None = None,
                 sample_rows: int = DEFAULT_SAMPLE_ROWS) -> PersonalDataScan:
    """Scan the stored snapshot of a dataset (by id or digest) and keep the findings with it."""
    settings = _settings(locales, sample_rows)
    found = data_checks.resolve(backend, dataset)
    if found.snapshot is None:
        raise InvalidInput(f"dataset '{found.name}' ({found.id}) has no stored snapshot: the scan reads only "
                           "data the store holds (log the dataset with snapshot=True)")
    frame = data_checks.stored_table(backend, found.snapshot.digest, found.snapshot.format,
                                     f"the snapshot of dataset '{found.name}'")
    result = _scanned(frame, settings)
    with backend.write() as session:
        lineage_store.get_artifact(session, found.id)  # still there
        stored = store.add(session, subject_type="dataset", subject_id=found.id, data_digest=found.digest,
                           result=result, scanned_by=actor.name, scanned_at=datetime.now(UTC))
        lineage_store.update_artifact_properties(session, found.id, {SCAN_PROPERTY: _short(stored)})
        audit.record(session, actor, "dataset.scanned", subject_type="dataset", subject_id=found.id,
                     details={"scan_id": stored.id, "digest": found.digest, "columns": stored.columns()[:100],
                              "kinds": stored.kinds})
    return stored


def dataset_scans(backend: Backend, dataset: str, *, limit: int = 100) -> list[PersonalDataScan]:
    """Every stored scan of the dataset, newest first."""
    _check_limit(limit)
    found = data_checks.resolve(backend, dataset)
    with backend.read() as session:
        return store.of_subject(session, "dataset", found.id, limit=limit)


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit!r}")


# -- prediction logs ---------------------------------------------------------------------------------


def scan_prediction_log(backend: Backend, actor: Actor, endpoint: str, *, since: datetime | None = None,
                        until: datetime | None = None, locales: list[str] | None = None,
                        sample_rows: int = DEFAULT_SAMPLE_ROWS) -> PersonalDataScan:
    """Scan the inputs an endpoint logged (its newest ``sample_rows`` requests in the window)."""
    from modelward.services import predictions

    settings = _settings(locales, sample_rows)
    with backend.read() as session:
        deployment_store.get(session, endpoint)  # NotFound names it
    records = predictions.records(backend, endpoint, since=since, until=until, mode="live", limit=sample_rows)
    frame = _inputs_frame(records)
    if frame.empty:
        raise InvalidInput(f"endpoint '{endpoint}' logged no inputs as data in that window: nothing to scan")
    result = _scanned(frame, settings)
    result["window"] = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
                        "requests": len(records)}
    with backend.write() as session:
        stored = store.add(session, subject_type="endpoint", subject_id=endpoint, data_digest=None, result=result,
                           scanned_by=actor.name, scanned_at=datetime.now(UTC))
        audit.record(session, actor, "prediction_log.scanned", subject_type="deployment", subject_id=endpoint,
                     details={"scan_id": stored.id, "requests": len(records), "columns": stored.columns()[:100],
                              "kinds": stored.kinds})
    return stored


def prediction_log_scans(backend: Backend, endpoint: str, *, limit: int = 100) -> list[PersonalDataScan]:
    _check_limit(limit)
    with backend.read() as session:
        deployment_store.get(session, endpoint)
        return store.of_subject(session, "endpoint", endpoint, limit=limit)


def _inputs_frame(records: list[dict[str, Any]]) -> Any:
    """The logged input rows as one frame: a record's inputs are a row ({column: value}) or a list
    of rows; anything else (a tensor, an unserialisable marker) is not table data and is skipped."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for record in records:
        inputs = record.get("inputs")
        if isinstance(inputs, dict) and "unserialisable" not in inputs:
            rows.append(inputs)
        elif isinstance(inputs, list):
            rows.extend(item for item in inputs if isinstance(item, dict))
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame()


# -- what a version was trained on -------------------------------------------------------------------


def of_version(session: Any, name: str, version: int) -> list[dict[str, Any]]:
    """The latest scan of each dataset the version's source run read, in the caller's session:
    [{dataset_id, dataset, scan_id, scanned_at, columns: [{column, kinds}]}], unscanned ones with
    ``scan_id: None``."""
    datasets = dataset_store.trained_on(session, name, version)
    latest = store.latest_of(session, "dataset", [a.id for a in datasets])
    found = []
    for artifact in datasets:
        scan = latest.get(artifact.id)
        found.append({"dataset_id": artifact.id, "dataset": artifact.name, "digest": artifact.digest,
                      "scan_id": scan.id if scan else None,
                      "scanned_at": scan.scanned_at.isoformat() if scan else None,
                      "columns": _columns(scan) if scan else []})
    return found


def _columns(scan: PersonalDataScan) -> list[dict[str, Any]]:
    kinds: dict[str, list[str]] = {}
    for finding in scan.findings:
        kinds.setdefault(finding["column"], []).append(finding["kind"])
    return [{"column": column, "kinds": sorted(set(found))} for column, found in kinds.items()]


def for_version(backend: Backend, name: str, version: int) -> list[dict[str, Any]]:
    with backend.read() as session:
        return of_version(session, name, version)


def latest_scan(backend: Backend, scan_id: int) -> PersonalDataScan:
    with backend.read() as session:
        found = store.get(session, scan_id)
    if found is None:
        raise NotFound(f"no personal-data scan has id {scan_id}")
    return found


__all__ = ["dataset_scans", "for_version", "latest_scan", "of_version", "prediction_log_scans", "scan_dataset",
           "scan_prediction_log"]
