"""Deletion requests through lineage: find what holds a data subject's rows, erase them, flag the versions.

``find`` reads every dataset's stored snapshot that has the key's columns (through the blob
store's verified read), follows lineage from the matching datasets to the runs that read or
wrote them, the versions registered from those runs and the deployments that serve or served
those versions, and reads every prediction-log part for logged inputs that match. What it could
not search (no snapshot, no such column, inputs without column names) it says.

``erase`` rewrites each matching snapshot without the matching rows as a new blob (the run's
artifact row and the dataset then name the new one; the old blob is removed once nothing names
it), rewrites each matching log part without the matching records (index rows and feedback of
those requests go too), records one ``data.erased`` audit event with everything it touched (the
key only as a hash), and flags each reached version with a ``model_version.erasure_flagged``
event. Flags live in the audit chain, so no contributor can edit or delete one; the team's
decision (``retrain`` or ``keep``) is one more event. Approved and released versions keep their
frozen evidence: nothing here rewrites an evaluation or a review.

Only an admin or the compliance role may search for a subject or erase: the search itself says
where a person's data is.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelward.domain.actors import Actor, Role
from modelward.domain.datasets import Dataset
from modelward.domain.erasure import (
    DECISIONS,
    DatasetMatch,
    DeploymentMatch,
    ErasureDecision,
    ErasureFindings,
    ErasureFlag,
    ErasureRecord,
    ErasureRequest,
    ErasureResult,
    KeyValue,
    LogPartMatch,
    RedactedPart,
    RedactedSnapshot,
    RunMatch,
    Unsearched,
    VersionMatch,
    check_reason,
    record_matches,
)
from modelward.domain.governance import VersionState
from modelward.domain.lineage import ArtifactKind, Direction, NodeKind
from modelward.errors import InvalidInput, ModelwardError, NotFound, PermissionDenied
from modelward.services import audit, data_checks
from modelward.services.backend import Backend
from modelward.services.lifecycle import subject_id
from modelward.services.lineage import DEFAULT_DEPTH
from modelward.store import artifact_index
from modelward.store import audit as audit_store
from modelward.store import datasets as dataset_store
from modelward.store import deployments as deployment_store
from modelward.store import lineage as lineage_store
from modelward.store import predictions as log_store
from modelward.store import registry as registry_store
from modelward.store import runs as run_store

log = logging.getLogger(__name__)

ERASERS = (Role.ADMIN, Role.COMPLIANCE)
DECIDERS = (Role.ADMIN, Role.COMPLIANCE, Role.RISK, Role.APPROVER)
ERASED = "data.erased"
FLAGGED = "model_version.erasure_flagged"
DECIDED = "model_version.erasure_decided"
MAX_DATASETS = 5000  # searched per request; past it the answer says 'truncated'
MAX_RECORDS = 1000
FROZEN_STATES = (VersionState.APPROVED.value, VersionState.RELEASED.value)
ALL_STATES = [state.value for state in VersionState]
REDACTED_PROPERTY = "redacted"


def _require(actor: Actor, roles: tuple[Role, ...], what: str) -> None:
    if not any(actor.has(role) for role in roles):
        names = " or ".join(role.value for role in roles)
        raise PermissionDenied(f"user '{actor.name}' may not {what}: it takes the {names} role")


@dataclass
class _Search:
    """What ``find`` found, with what ``erase`` needs and the answer does not show."""

    findings: ErasureFindings
    datasets: dict[str, Dataset] = field(default_factory=dict)
    log_keys: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # part -> (request_id, mode)


# -- finding ----------------------------------------------------------------------------------


def find(backend: Backend, actor: Actor, request: ErasureRequest) -> ErasureFindings:
    """Every dataset snapshot, run, model version, deployment and prediction-log part the
    request reaches."""
    _require(actor, ERASERS, "search for a data subject")
    request.check()
    return _search(backend, request).findings


def _search(backend: Backend, request: ErasureRequest) -> _Search:
    found = _Search(ErasureFindings(key_columns=request.key_columns(), key_hash=request.key_hash(),
                                    dataset=request.dataset))
    candidates = _candidates(backend, request, found.findings)
    frames: dict[str, tuple[set[str], int, int]] = {}  # snapshot digest -> (columns, rows, matching)
    for dataset in candidates:
        match = _match_dataset(backend, dataset, request.key, frames, found.findings)
        if match is not None:
            found.findings.datasets.append(match)
            found.datasets[dataset.id] = dataset
    with backend.read() as session:
        _follow_lineage(session, found.findings)
    if request.key is not None:
        _search_logs(backend, request, found)
    return found


def _candidates(backend: Backend, request: ErasureRequest, findings: ErasureFindings) -> list[Dataset]:
    if request.dataset is not None:
        return [data_checks.resolve(backend, request.dataset)]
    with backend.read() as session:
        found = dataset_store.find(session, name=None, digest=None, limit=MAX_DATASETS + 1)
    if len(found) > MAX_DATASETS:
        findings.truncated = True
        found = found[:MAX_DATASETS]
    return found


def _match_dataset(backend: Backend, dataset: Dataset, key: dict[str, KeyValue] | None,
                   frames: dict[str, tuple[set[str], int, int]], findings: ErasureFindings) -> DatasetMatch | None:
    def unsearched(reason: str) -> None:
        findings.unsearched_datasets.append(Unsearched(id=dataset.id, name=dataset.name, reason=reason))

    if dataset.snapshot is None:
        unsearched("no stored snapshot (only its digest and profile are kept)")
        return None
    schema = {c.name for c in dataset.data_schema.columns} if dataset.data_schema and dataset.data_schema.columns else None
    missing = sorted(set(key or {}) - schema) if schema is not None else []
    if missing:  # the profile logged with it says so: its snapshot is not read
        unsearched(f"no column {', '.join(repr(c) for c in missing)} in its schema")
        return None
    try:
        columns, rows, matching = _counted(backend, dataset, key, frames)
    except ModelwardError as exc:
        unsearched(str(exc))
        return None
    missing = sorted(set(key or {}) - columns)
    if missing:
        unsearched(f"no column {', '.join(repr(c) for c in missing)}")
        return None
    if not matching:
        return None
    return DatasetMatch(id=dataset.id, name=dataset.name, digest=dataset.digest, snapshot_digest=dataset.snapshot.digest,
                        snapshot_run_id=dataset.snapshot.run_id, rows=rows, matching_rows=matching)


def _counted(backend: Backend, dataset: Dataset, key: dict[str, KeyValue] | None,
             seen: dict[str, tuple[set[str], int, int]]) -> tuple[set[str], int, int]:
    """(the snapshot's columns, its rows, the rows matching ``key``), read once per snapshot blob
    (only the counts are kept: a search holds one table at a time)."""
    snapshot = dataset.snapshot
    assert snapshot is not None
    if snapshot.digest not in seen:
        frame = data_checks.stored_table(backend, snapshot.digest, snapshot.format,
                                         f"the snapshot of dataset '{dataset.name}'")
        columns = {str(c) for c in frame.columns}
        matching = int(_mask(frame, key).sum()) if not set(key or {}) - columns else 0
        seen[snapshot.digest] = (columns, len(frame), matching)
    return seen[snapshot.digest]


def _mask(frame: Any, key: dict[str, KeyValue] | None) -> Any:
    """True for each row of ``frame`` matching every key column (numbers by value, the rest by text)."""
    import numpy as np
    import pandas as pd

    if key is None:
        return np.ones(len(frame), dtype=bool)
    columns = {str(c): c for c in frame.columns}
    mask = np.ones(len(frame), dtype=bool)
    for column, value in key.items():
        series = frame[columns[column]]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            try:
                mask &= (series.astype("float64") == float(value)).to_numpy(dtype=bool, na_value=False)
            except (TypeError, ValueError, OverflowError):
                mask &= False
        else:
            mask &= (series.notna() & (series.astype(str) == str(value))).to_numpy(dtype=bool)
    return mask


def _follow_lineage(session: Any, findings: ErasureFindings) -> None:
    runs: dict[tuple[str, str], set[str]] = {}
    versions: dict[tuple[str, int], set[str]] = {}
    for match in findings.datasets:
        for execution in lineage_store.executions_of_artifact(session, match.id, Direction.OUTPUT):
            if execution.run_id:
                runs.setdefault((execution.run_id, "wrote"), set()).add(match.id)
        depths = lineage_store.walk(session, NodeKind.ARTIFACT, match.id, upstream=False, max_depth=DEFAULT_DEPTH)
        nodes, _ = lineage_store.subgraph(session, depths)
        for node in nodes:
            if node.kind is NodeKind.EXECUTION and node.run_id:
                runs.setdefault((node.run_id, "read"), set()).add(match.id)
            elif node.type == ArtifactKind.MODEL.value and (node.uri or "").startswith("models:/"):
                name, _, number = (node.uri or "").removeprefix("models:/").rpartition("/")
                if name and number.isdigit():
                    versions.setdefault((name, int(number)), set()).add(match.id)
    for (run_id, relation), datasets in sorted(runs.items()):
        findings.runs.append(RunMatch(run_id=run_id, relation=relation, datasets=sorted(datasets)))  # type: ignore[arg-type]
        if relation == "read":
            for name, version, _ in registry_store.versions_backed_by(session, ALL_STATES, run_id=run_id):
                versions.setdefault((name, version), set()).update(datasets)
    for (name, version), datasets in sorted(versions.items()):
        try:
            row = registry_store.version_row(session, name, version)
        except NotFound:  # deleted since: its lineage node stays
            continue
        findings.versions.append(VersionMatch(model=name, version=version, state=row.status, run_id=row.source_run_id,
                                              datasets=sorted(datasets), frozen=row.status in FROZEN_STATES))
    findings.deployments = _deployments(session, findings.versions)


def _deployments(session: Any, versions: list[VersionMatch]) -> list[DeploymentMatch]:
    affected: dict[str, set[int]] = {}
    for item in versions:
        affected.setdefault(item.model, set()).add(item.version)
    found = []
    for model, wanted in sorted(affected.items()):
        for deployment in deployment_store.list_(session, model_name=model):
            served = {route.version for state in deployment_store.history(session, deployment.name)
                      for route in state.routes} & wanted
            if served:
                found.append(DeploymentMatch(
                    name=deployment.name, environment=deployment.environment, model=model, versions=sorted(served),
                    serving_now=sorted(deployment.state.loaded_versions() & wanted),
                    active=deployment.state.status.value == "active"))
    return found


def _search_logs(backend: Backend, request: ErasureRequest, found: _Search) -> None:
    import pyarrow.compute as pc

    key = request.key
    assert key is not None
    endpoints: list[str | None] = list(request.endpoints) if request.endpoints else [None]
    parts = sorted({part for endpoint in endpoints for part in log_store.parts_of(backend.artifacts, endpoint)})
    texts = [json.dumps(str(value), ensure_ascii=False)[1:-1] for value in key.values() if isinstance(value, str)]
    for part in parts:
        table = log_store.read_part_inputs(backend.artifacts, part)
        found.findings.log_parts_searched += 1
        inputs = table["inputs"]
        candidate = pc.is_valid(inputs)
        for text in texts:  # a cheap first cut: a record can only match if its JSON holds the text
            candidate = pc.and_kleene(candidate, pc.match_substring(inputs, text))
        matched: list[tuple[str, str]] = []
        for request_id, mode, document, maybe in zip(table["request_id"].to_pylist(), table["mode"].to_pylist(),
                                                     inputs.to_pylist(), candidate.to_pylist()):
            if document is None or not maybe and ":" in document:  # has column names, lacks the value
                continue
            verdict = record_matches(json.loads(document), key)
            if verdict is None:
                found.findings.unsearched_log_records += 1
            elif verdict:
                matched.append((request_id, mode))
        if matched:
            found.log_keys[part] = matched
            found.findings.log_parts.append(LogPartMatch(endpoint=log_store.endpoint_of_part(part), part=part,
                                                         records=table.num_rows, matching_records=len(matched)))


# -- erasing ----------------------------------------------------------------------------------


def erase(backend: Backend, actor: Actor, request: ErasureRequest, *, reason: str,
          dry_run: bool = False) -> ErasureResult:
    """Redact what ``find`` lists, audit it, flag the versions; a dry run only lists."""
    _require(actor, ERASERS, "erase data")
    request.check()
    reason = check_reason(reason, "a deletion request")
    search = _search(backend, request)
    findings = search.findings
    flagged = [subject_id(v.model, v.version) for v in findings.versions]
    result = ErasureResult(dry_run=dry_run, reason=reason, at=datetime.now(UTC), by=actor.name, findings=findings,
                           flagged_versions=flagged)
    if dry_run:
        return result
    request_id = uuid.uuid4().hex
    result.request_id = request_id
    rewritten = _rewrite_snapshots(backend, request, search)
    result.log_parts = _rewrite_log_parts(backend, search)  # the records are gone before the event says so
    doomed: list[str] = []
    with backend.write() as session:
        result.snapshots = _repoint(session, actor, request_id, search, rewritten, result.at, doomed)
        for part in result.log_parts:
            log_store.forget_records(session, part.part, search.log_keys[part.part])
        event = audit.record(session, actor, ERASED, subject_type="erasure_request", subject_id=request_id,
                             reason=reason, details=_event_details(request, result))
        for version in findings.versions:
            audit.record(session, actor, FLAGGED, subject_type="model_version",
                         subject_id=subject_id(version.model, version.version), model_name=version.model,
                         reason=reason, details={"request_id": request_id, "datasets": version.datasets,
                                                 "state": version.state, "frozen": version.frozen,
                                                 "erasure_seq": event.seq})
    for digest in doomed:  # nothing names them any more (checked in the transaction)
        if backend.artifacts.exists(digest):
            backend.artifacts.delete(digest)
    log.info("erasure %s: %s snapshot(s), %s log part(s), %s version(s) flagged", request_id,
             len(result.snapshots), len(result.log_parts), len(flagged))
    return result


@dataclass
class _Rewritten:
    old_digest: str
    new_digest: str
    size: int
    rows_removed: int


def _rewrite_snapshots(backend: Backend, request: ErasureRequest, search: _Search) -> dict[str, _Rewritten]:
    """old snapshot digest -> its rewrite, stored as a new blob (content-addressed: a crash before
    the rows name it leaves a blob for garbage collection, nothing else)."""
    rewritten: dict[str, _Rewritten] = {}
    for dataset in search.datasets.values():
        snapshot = dataset.snapshot
        assert snapshot is not None
        if snapshot.digest in rewritten:
            continue
        frame = data_checks.stored_table(backend, snapshot.digest, snapshot.format,
                                         f"the snapshot of dataset '{dataset.name}'")
        mask = _mask(frame, request.key)
        blob = backend.artifacts.put_bytes(_table_bytes(frame, mask, snapshot.format))
        rewritten[snapshot.digest] = _Rewritten(snapshot.digest, blob.digest, blob.size, int(mask.sum()))
    return rewritten


def _table_bytes(frame: Any, mask: Any, form: str) -> bytes:
    """``frame`` without the ``mask`` rows, in the snapshot's own format, as
    ``data_checks.stored_table`` reads it back (a plain row index stays plain)."""
    import pandas as pd

    plain = isinstance(frame.index, pd.RangeIndex)
    kept = frame[~mask]
    if plain:
        kept = kept.reset_index(drop=True)
    buffer = io.BytesIO()
    if form in ("csv", "tsv"):
        kept.to_csv(buffer, sep="\t" if form == "tsv" else ",", index=False)
    elif form == "json":
        kept.to_json(buffer, orient="records")
    else:
        kept.to_parquet(buffer, index=False if plain else None)
    return buffer.getvalue()


def _repoint(session: Any, actor: Actor, request_id: str, search: _Search, rewritten: dict[str, _Rewritten],
             at: datetime, doomed: list[str]) -> list[RedactedSnapshot]:
    """The runs' artifact rows and the datasets name the new blobs; old blobs nothing names are forgotten."""
    done: list[RedactedSnapshot] = []
    repointed: set[tuple[str, str]] = set()
    for dataset_id, dataset in search.datasets.items():
        snapshot = dataset.snapshot
        assert snapshot is not None
        change = rewritten[snapshot.digest]
        if (snapshot.run_id, snapshot.path) not in repointed:
            _repoint_run_file(session, snapshot.run_id, snapshot.path, change)
            repointed.add((snapshot.run_id, snapshot.path))
        current = lineage_store.get_artifact(session, dataset_id).properties
        entry = {"request_id": request_id, "rows_removed": change.rows_removed, "old_digest": change.old_digest,
                 "new_digest": change.new_digest, "at": at.isoformat(), "by": actor.name}
        lineage_store.update_artifact_properties(session, dataset_id, {
            "snapshot": {**current["snapshot"], "digest": change.new_digest, "size": change.size},
            REDACTED_PROPERTY: [*current.get(REDACTED_PROPERTY, []), entry],
        })
        done.append(RedactedSnapshot(dataset_id=dataset_id, rows_removed=change.rows_removed,
                                     old_digest=change.old_digest, new_digest=change.new_digest,
                                     old_blob_removed=False))
    session.flush()
    for old in sorted({item.old_digest for item in done}):
        kept = artifact_index.is_referenced(session, old)
        if not kept:
            artifact_index.forget_blobs(session, [old])
            doomed.append(old)
        for item in done:
            if item.old_digest == old:
                item.old_blob_removed = not kept
                item.old_blob_kept_because = ("another run's artifact or a version's file still names it"
                                              if kept else None)
    return done


def _repoint_run_file(session: Any, run_id: str, path: str, change: _Rewritten) -> None:
    """The run's file at ``path`` names the redacted blob (unless the run or file is gone, or names
    other bytes by now: then only the dataset is repointed)."""
    try:
        run_pk = run_store.pk_of(session, run_id)
        current = artifact_index.get(session, run_pk, path)
    except NotFound:
        return
    if current.digest == change.old_digest:
        artifact_index.record(session, run_pk, path, change.new_digest, change.size)


def _rewrite_log_parts(backend: Backend, search: _Search) -> list[RedactedPart]:
    done = []
    for part, keys in sorted(search.log_keys.items()):
        removed, kept = log_store.rewrite_part_without(backend.artifacts, part, set(keys))
        done.append(RedactedPart(endpoint=log_store.endpoint_of_part(part), part=part, records_removed=removed,
                                 records_kept=kept))
    return done


def _event_details(request: ErasureRequest, result: ErasureResult) -> dict[str, Any]:
    findings = result.findings
    return {
        "key_columns": findings.key_columns, "key_hash": findings.key_hash, "dataset": request.dataset,
        "endpoints": request.endpoints,
        "snapshots": [item.model_dump(mode="json") for item in result.snapshots],
        "log_parts": [item.model_dump(mode="json") for item in result.log_parts],
        "runs": [{"run_id": r.run_id, "relation": r.relation} for r in findings.runs],
        "flagged_versions": result.flagged_versions,
        "deployments": [d.name for d in findings.deployments],
        "unsearched_datasets": len(findings.unsearched_datasets),
        "unsearched_log_records": findings.unsearched_log_records,
        "truncated": findings.truncated,
    }


# -- flags and decisions ------------------------------------------------------------------------


def flags_in(session: Any, model: str, version: int) -> list[ErasureFlag]:
    """The version's erasure flags, oldest first, each with the team's latest decision."""
    subject = subject_id(model, version)
    flags: dict[str, ErasureFlag] = {}
    for event in audit_store.iter_events(session, model=model, action=FLAGGED):
        if event.subject_id == subject:
            request_id = str(event.details.get("request_id"))
            flags[request_id] = ErasureFlag(request_id=request_id, flagged_at=event.at, flagged_by=event.actor,
                                            reason=event.reason, datasets=list(event.details.get("datasets") or []))
    if flags:
        for event in audit_store.iter_events(session, model=model, action=DECIDED):
            flag = flags.get(str(event.details.get("request_id")))
            if event.subject_id == subject and flag is not None:
                flag.decision = ErasureDecision(decision=event.details["decision"], reason=event.reason or "",
                                                by=event.actor, at=event.at)
    return list(flags.values())


def flags(backend: Backend, model: str, version: int) -> list[ErasureFlag]:
    with backend.read() as session:
        registry_store.version_row(session, model, version)
        return flags_in(session, model, version)


def decide(backend: Backend, actor: Actor, model: str, version: int, *, decision: str, reason: str,
           request_id: str | None = None) -> ErasureFlag:
    """Record the team's choice for a flagged version: ``retrain`` or ``keep`` (audited; a later
    decision on the same request supersedes an earlier one, and both stay in the trail)."""
    _require(actor, DECIDERS, "decide on an erasure flag")
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    reason = check_reason(reason, "a decision")
    with backend.write() as session:
        registry_store.version_row(session, model, version)
        found = flags_in(session, model, version)
        flag = _flag_to_decide(found, model, version, request_id)
        audit.record(session, actor, DECIDED, subject_type="model_version", subject_id=subject_id(model, version),
                     model_name=model, reason=reason, details={"request_id": flag.request_id, "decision": decision})
        flag.decision = ErasureDecision(decision=decision, reason=reason, by=actor.name,  # type: ignore[arg-type]
                                        at=datetime.now(UTC))
    return flag


def _flag_to_decide(found: list[ErasureFlag], model: str, version: int, request_id: str | None) -> ErasureFlag:
    if not found:
        raise NotFound(f"version {version} of model '{model}' has no erasure flag")
    if request_id is not None:
        for flag in found:
            if flag.request_id == request_id:
                return flag
        raise NotFound(f"version {version} of model '{model}' was not flagged by erasure request '{request_id}'")
    open_flags = [flag for flag in found if flag.decision is None]
    if len(open_flags) == 1:
        return open_flags[0]
    if len(found) == 1:
        return found[0]
    raise InvalidInput(f"version {version} of model '{model}' has {len(found)} erasure flags "
                       f"({len(open_flags)} undecided): name the request id")


def requests(backend: Backend, actor: Actor, *, limit: int = 100) -> list[ErasureRecord]:
    """Past deletion requests, newest first, as their audit events tell them."""
    _require(actor, ERASERS, "read deletion requests")
    if not 1 <= limit <= MAX_RECORDS:
        raise InvalidInput(f"limit must be between 1 and {MAX_RECORDS}, got {limit}")
    events = audit.list_(backend, action=ERASED, limit=limit)
    return [ErasureRecord(request_id=e.subject_id, at=e.at, by=e.actor, reason=e.reason,
                          key_columns=list(e.details.get("key_columns") or []), key_hash=e.details.get("key_hash"),
                          dataset=e.details.get("dataset"), snapshots=list(e.details.get("snapshots") or []),
                          log_parts=list(e.details.get("log_parts") or []),
                          flagged_versions=list(e.details.get("flagged_versions") or []), audit_seq=e.seq)
            for e in events]
