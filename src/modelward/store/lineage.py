"""Lineage persistence and graph walks (recursive CTEs on SQLite and PostgreSQL). Never commit.

Walks never load the graph into Python: one recursive query returns the reachable
nodes with their smallest depth, a second fetches the events among those nodes, and a
third the hyperparameters and metrics of the runs among them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, and_, case, cast, func, literal, or_, select, update
from sqlalchemy.orm import Session

from modelward.domain.lineage import (
    ArtifactKind,
    ArtifactSpec,
    Direction,
    ExecutionSpec,
    ExecutionType,
    GraphEdge,
    GraphNode,
    LineageArtifact,
    LineageExecution,
    NodeKind,
)
from modelward.domain.names import new_id
from modelward.errors import NotFound
from modelward.store.dialect import aware, insert_ignoring_conflict
from modelward.store.rows import LatestMetricRow, ParamRow, RunRow
from modelward.store.rows.data_checks import DataCheckRow
from modelward.store.rows.lineage import (
    LineageArtifactRow,
    LineageAssociationRow,
    LineageContextRow,
    LineageEventRow,
    LineageExecutionRow,
)

# The session type services pass through (they may not import SQLAlchemy themselves).
UnitOfWork = Session

_KIND = String(16)
_ID = String(32)


def _insert_ignoring_conflict(session: Session, row_class: Any, values: dict[str, Any], keys: list[str]) -> None:
    session.execute(insert_ignoring_conflict(session, row_class, keys=keys).values(**values))


def _insert_new(session: Session, row_class: Any, values: dict[str, Any], keys: list[str]) -> Any | None:
    """Insert unless a row with the same ``keys`` exists: the new row as stored, or None when
    another one was there (or the database cannot return inserted rows): then look it up."""
    stmt = insert_ignoring_conflict(session, row_class, keys=keys).values(**values)
    if not session.get_bind().dialect.insert_returning:
        session.execute(stmt)
        return None
    # The statement may be a Core insert on the table: return the key, then load the row.
    inserted_id = session.execute(stmt.returning(row_class.__table__.c.id)).scalar()
    return session.get(row_class, inserted_id) if inserted_id is not None else None


# -- artifacts --------------------------------------------------------------------------------


def artifact_identity(digest: str | None, uri: str | None) -> str:
    return f"digest:{digest}" if digest else f"uri:{uri}"


def dataset_identity(digest: str | None, uri: str | None) -> str:
    """A dataset is its content at its location: 'digest:D' where the location is unknown,
    'digest:D@<hash of the location>' where it is known, 'uri:L' while only the location is."""
    if digest and uri:
        return f"digest:{digest}@{hashlib.sha256(uri.encode()).hexdigest()[:32]}"
    return artifact_identity(digest, uri)


def _artifact(row: LineageArtifactRow) -> LineageArtifact:
    return LineageArtifact(
        id=row.id, kind=ArtifactKind(row.kind), name=row.name, digest=row.digest, uri=row.uri,
        properties=row.properties or {}, created_at=aware(row.created_at),
    )


def get_artifact(session: Session, artifact_id: str) -> LineageArtifact:
    row = session.get(LineageArtifactRow, artifact_id)
    if row is None:
        raise NotFound(f"lineage artifact '{artifact_id}' does not exist")
    return _artifact(row)


def find_artifact(session: Session, kind: ArtifactKind, *, digest: str | None, uri: str | None) -> LineageArtifact | None:
    row = session.scalar(
        select(LineageArtifactRow).where(
            LineageArtifactRow.kind == kind.value,
            LineageArtifactRow.identity == artifact_identity(digest, uri),
        )
    )
    if row is None and digest is None and uri is not None:
        # A URI-only reference (e.g. from OpenLineage) also finds a digested artifact at that URI.
        row = session.scalar(
            select(LineageArtifactRow)
            .where(LineageArtifactRow.kind == kind.value, LineageArtifactRow.uri == uri)
            .order_by(LineageArtifactRow.created_at.desc())
            .limit(1)
        )
    return _artifact(row) if row is not None else None


def ensure_artifact(session: Session, spec: ArtifactSpec, name: str) -> LineageArtifact:
    """The artifact with the spec's identity, created if new; new property keys are added."""
    found = find_artifact(session, spec.kind, digest=spec.digest, uri=spec.uri)
    if found is None:
        inserted = _insert_new(
            session, LineageArtifactRow,
            {"id": new_id(), "kind": spec.kind.value, "identity": artifact_identity(spec.digest, spec.uri),
             "name": name, "digest": spec.digest, "uri": spec.uri, "properties": spec.properties,
             "created_at": datetime.now(UTC)},
            ["kind", "identity"],
        )
        if inserted is not None:
            return _artifact(inserted)
        found = find_artifact(session, spec.kind, digest=spec.digest, uri=spec.uri)
        assert found is not None
        return found
    missing = {k: v for k, v in spec.properties.items() if k not in found.properties}
    if missing:
        return update_artifact_properties(session, found.id, missing)
    return found


def update_artifact_properties(session: Session, artifact_id: str, updates: dict[str, Any]) -> LineageArtifact:
    row = session.get(LineageArtifactRow, artifact_id, with_for_update=True)
    if row is None:
        raise NotFound(f"lineage artifact '{artifact_id}' does not exist")
    row.properties = {**(row.properties or {}), **updates}
    session.flush()
    return _artifact(row)


def artifacts_at(session: Session, uri: str, kinds: Sequence[ArtifactKind]) -> list[LineageArtifact]:
    """The artifacts of ``kinds`` at ``uri``: the one without a digest first (a dataset known
    only by its name, e.g. from OpenLineage), then the newest first."""
    rows = session.scalars(
        select(LineageArtifactRow)
        .where(LineageArtifactRow.uri == uri, LineageArtifactRow.kind.in_([k.value for k in kinds]))
        .order_by(LineageArtifactRow.digest.is_not(None), LineageArtifactRow.created_at.desc(), LineageArtifactRow.id)
    )
    return [_artifact(row) for row in rows]


def with_digest(session: Session, kind: ArtifactKind, digest: str) -> list[LineageArtifact]:
    """The artifacts of ``kind`` with ``digest``: the one without a location first, then the newest."""
    rows = session.scalars(
        select(LineageArtifactRow)
        .where(LineageArtifactRow.kind == kind.value, LineageArtifactRow.digest == digest)
        .order_by(LineageArtifactRow.uri.is_not(None), LineageArtifactRow.created_at.desc(), LineageArtifactRow.id)
    )
    return [_artifact(row) for row in rows]


def create_dataset(session: Session, spec: ArtifactSpec, name: str) -> LineageArtifact:
    """A new dataset artifact with ``dataset_identity`` (or the one another writer just made)."""
    identity = dataset_identity(spec.digest, spec.uri)
    inserted = _insert_new(
        session, LineageArtifactRow,
        {"id": new_id(), "kind": spec.kind.value, "identity": identity, "name": name, "digest": spec.digest,
         "uri": spec.uri, "properties": spec.properties, "created_at": datetime.now(UTC)},
        ["kind", "identity"],
    )
    if inserted is None:
        inserted = session.scalar(select(LineageArtifactRow).where(
            LineageArtifactRow.kind == spec.kind.value, LineageArtifactRow.identity == identity))
    assert inserted is not None
    return _artifact(inserted)


def assign_identity(
    session: Session, artifact_id: str, *, kind: ArtifactKind, digest: str | None, uri: str | None, name: str | None,
) -> LineageArtifact:
    """Give a dataset the digest (and kind, name) or the location it turned out to have."""
    row = session.get(LineageArtifactRow, artifact_id, with_for_update=True)
    if row is None:
        raise NotFound(f"lineage artifact '{artifact_id}' does not exist")
    row.kind, row.digest = kind.value, digest or row.digest
    row.uri = row.uri or uri
    row.identity = dataset_identity(row.digest, row.uri)
    if name:
        row.name = name
    session.flush()
    return _artifact(row)


def merge_artifacts(session: Session, keep_id: str, drop_id: str) -> LineageArtifact:
    """Make ``drop_id`` part of ``keep_id``: its events move over (the same edge once), the
    properties ``keep_id`` lacks are taken from it, and it is deleted."""
    event = LineageEventRow.__table__
    moved = [
        {"execution_id": execution_id, "artifact_id": keep_id, "direction": direction, "created_at": created_at}
        for execution_id, direction, created_at in session.execute(
            select(event.c.execution_id, event.c.direction, event.c.created_at).where(event.c.artifact_id == drop_id)
        )
    ]
    if moved:
        session.execute(insert_ignoring_conflict(session, LineageEventRow,
                                                 keys=["execution_id", "artifact_id", "direction"]), moved)
    session.execute(event.delete().where(event.c.artifact_id == drop_id))
    session.execute(update(DataCheckRow).where(DataCheckRow.artifact_id == drop_id).values(artifact_id=keep_id))
    drop = session.get(LineageArtifactRow, drop_id)
    keep = session.get(LineageArtifactRow, keep_id, with_for_update=True)
    if keep is None or drop is None:
        raise NotFound(f"lineage artifacts '{keep_id}' and '{drop_id}' must both exist to merge them")
    keep.properties = {**(drop.properties or {}), **(keep.properties or {})}
    if keep.uri is None and drop.uri is not None:
        keep.uri = drop.uri
        keep.identity = dataset_identity(keep.digest, keep.uri)
    session.delete(drop)
    session.flush()
    return _artifact(keep)


def list_artifacts(
    session: Session, *, kinds: Sequence[ArtifactKind], name: str | None = None,
    digest: str | None = None, limit: int = 100,
) -> list[LineageArtifact]:
    query = select(LineageArtifactRow).where(LineageArtifactRow.kind.in_([k.value for k in kinds]))
    if name is not None:
        query = query.where(LineageArtifactRow.name == name)
    if digest is not None:
        query = query.where(LineageArtifactRow.digest == digest)
    query = query.order_by(LineageArtifactRow.created_at.desc(), LineageArtifactRow.id).limit(limit)
    return [_artifact(row) for row in session.scalars(query)]


def artifacts_named_like(session: Session, *, kinds: Sequence[ArtifactKind], text: str, limit: int) -> list[LineageArtifact]:
    """Artifacts of ``kinds`` whose name contains ``text`` (any case), newest first."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = (select(LineageArtifactRow)
             .where(LineageArtifactRow.kind.in_([k.value for k in kinds]))
             .where(LineageArtifactRow.name.ilike(pattern, escape="\\"))
             .order_by(LineageArtifactRow.created_at.desc(), LineageArtifactRow.id).limit(limit))
    return [_artifact(row) for row in session.scalars(query)]


# -- executions and contexts ------------------------------------------------------------------


def _execution(row: LineageExecutionRow) -> LineageExecution:
    return LineageExecution(
        id=row.id, type=ExecutionType(row.type), name=row.name, run_id=row.run_id,
        external_id=row.external_id, status=row.status, properties=row.properties or {},
        created_at=aware(row.created_at), updated_at=aware(row.updated_at),
    )


def get_execution(session: Session, execution_id: str) -> LineageExecution:
    row = session.get(LineageExecutionRow, execution_id)
    if row is None:
        raise NotFound(f"lineage execution '{execution_id}' does not exist")
    return _execution(row)


def execution_of_run(session: Session, run_id: str) -> LineageExecution | None:
    row = session.scalar(select(LineageExecutionRow).where(LineageExecutionRow.run_id == run_id))
    return _execution(row) if row is not None else None


def find_execution(session: Session, type_: ExecutionType, external_id: str) -> LineageExecution | None:
    row = session.scalar(
        select(LineageExecutionRow).where(
            LineageExecutionRow.type == type_.value, LineageExecutionRow.external_id == external_id
        )
    )
    return _execution(row) if row is not None else None


def _find_execution(session: Session, spec: ExecutionSpec) -> LineageExecutionRow | None:
    if spec.run_id is not None:
        return session.scalar(select(LineageExecutionRow).where(LineageExecutionRow.run_id == spec.run_id))
    if spec.external_id is not None:
        return session.scalar(
            select(LineageExecutionRow).where(
                LineageExecutionRow.type == spec.type.value, LineageExecutionRow.external_id == spec.external_id
            )
        )
    return None


def ensure_execution(session: Session, spec: ExecutionSpec, name: str) -> LineageExecution:
    """The execution with the spec's identity, created if new; status and properties updated."""
    now = datetime.now(UTC)
    row = _find_execution(session, spec)
    if row is None:
        values = {"id": new_id(), "type": spec.type.value, "name": name, "run_id": spec.run_id,
                  "external_id": spec.external_id, "status": spec.status, "properties": spec.properties,
                  "created_at": now, "updated_at": now}
        if spec.run_id is None and spec.external_id is None:
            session.add(LineageExecutionRow(**values))
            session.flush()
            return _execution(session.get(LineageExecutionRow, values["id"]))  # type: ignore[arg-type]
        keys = ["run_id"] if spec.run_id is not None else ["type", "external_id"]
        row = _insert_new(session, LineageExecutionRow, values, keys) or _find_execution(session, spec)
        assert row is not None
        return _execution(row)
    changed = False
    if spec.status is not None and spec.status != row.status:
        row.status, changed = spec.status, True
    if spec.properties:
        row.properties, changed = {**(row.properties or {}), **spec.properties}, True
    if changed:
        row.updated_at = now
        session.flush()
    return _execution(row)


def set_execution_entry(session: Session, execution_id: str, key: str, entry: str, value: Any) -> None:
    """``properties[key][entry] = value`` on an execution, under a row lock (no lost update)."""
    row = session.get(LineageExecutionRow, execution_id, with_for_update=True)
    if row is None:
        raise NotFound(f"lineage execution '{execution_id}' does not exist")
    current = dict((row.properties or {}).get(key) or {})
    if current.get(entry) != value:
        row.properties = {**(row.properties or {}), key: {**current, entry: value}}
        row.updated_at = datetime.now(UTC)
        session.flush()


def ensure_context(session: Session, type_: str, name: str) -> str:
    def find() -> str | None:
        return session.scalar(
            select(LineageContextRow.id).where(LineageContextRow.type == type_, LineageContextRow.name == name)
        )

    context_id = find()  # usually there already: one query
    if context_id is None:
        inserted = _insert_new(
            session, LineageContextRow,
            {"id": new_id(), "type": type_, "name": name, "created_at": datetime.now(UTC)}, ["type", "name"],
        )
        context_id = inserted.id if inserted is not None else find()
    assert context_id is not None
    return context_id


def associate(session: Session, context_id: str, execution_id: str) -> None:
    _insert_ignoring_conflict(
        session, LineageAssociationRow, {"context_id": context_id, "execution_id": execution_id},
        ["context_id", "execution_id"],
    )


def contexts_of(session: Session, execution_id: str) -> list[tuple[str, str]]:
    rows = session.execute(
        select(LineageContextRow.type, LineageContextRow.name)
        .join(LineageAssociationRow, LineageAssociationRow.context_id == LineageContextRow.id)
        .where(LineageAssociationRow.execution_id == execution_id)
        .order_by(LineageContextRow.type, LineageContextRow.name)
    )
    return [(type_, name) for type_, name in rows]


def executions_in_context(session: Session, type_: str, name: str) -> list[LineageExecution]:
    rows = session.scalars(
        select(LineageExecutionRow)
        .join(LineageAssociationRow, LineageAssociationRow.execution_id == LineageExecutionRow.id)
        .join(LineageContextRow, LineageContextRow.id == LineageAssociationRow.context_id)
        .where(LineageContextRow.type == type_, LineageContextRow.name == name)
        .order_by(LineageExecutionRow.created_at, LineageExecutionRow.id)
    )
    return [_execution(row) for row in rows]


# -- events -----------------------------------------------------------------------------------


def add_event(session: Session, execution_id: str, artifact_id: str, direction: Direction) -> None:
    _insert_ignoring_conflict(
        session, LineageEventRow,
        {"execution_id": execution_id, "artifact_id": artifact_id, "direction": direction.value,
         "created_at": datetime.now(UTC)},
        ["execution_id", "artifact_id", "direction"],
    )


def add_events(session: Session, execution_id: str, events: Sequence[tuple[str, Direction]]) -> None:
    """``add_event`` for several (artifact id, direction) pairs, in one statement."""
    unique = list(dict.fromkeys((artifact_id, direction.value) for artifact_id, direction in events))
    if not unique:
        return
    now = datetime.now(UTC)
    session.execute(
        insert_ignoring_conflict(session, LineageEventRow, keys=["execution_id", "artifact_id", "direction"]),
        [{"execution_id": execution_id, "artifact_id": artifact_id, "direction": direction, "created_at": now}
         for artifact_id, direction in unique],
    )


def artifacts_of_execution(session: Session, execution_id: str, direction: Direction) -> list[LineageArtifact]:
    rows = session.scalars(
        select(LineageArtifactRow)
        .join(LineageEventRow, LineageEventRow.artifact_id == LineageArtifactRow.id)
        .where(LineageEventRow.execution_id == execution_id, LineageEventRow.direction == direction.value)
        .order_by(LineageEventRow.id)
    )
    return [_artifact(row) for row in rows]


def executions_of_artifact(session: Session, artifact_id: str, direction: Direction) -> list[LineageExecution]:
    rows = session.scalars(
        select(LineageExecutionRow)
        .join(LineageEventRow, LineageEventRow.execution_id == LineageExecutionRow.id)
        .where(LineageEventRow.artifact_id == artifact_id, LineageEventRow.direction == direction.value)
        .order_by(LineageEventRow.id)
    )
    return [_execution(row) for row in rows]


# -- graph walks ------------------------------------------------------------------------------


def walk(session: Session, kind: NodeKind, node_id: str, *, upstream: bool, max_depth: int) -> dict[tuple[str, str], int]:
    """Every node reachable from (kind, node_id), against or along the edges, with its depth.

    Cycle-safe: UNION drops rows already found and the depth bound stops every branch.
    """
    event = LineageEventRow.__table__
    start = select(
        cast(literal(kind.value), _KIND).label("kind"),
        cast(literal(node_id), _ID).label("id"),
        cast(literal(0), Integer).label("depth"),
    ).cte("lineage_walk", recursive=True)
    step = start.alias("w")
    # Upstream: an artifact's producer (output event), an execution's inputs (input events).
    from_artifact, from_execution = (Direction.OUTPUT, Direction.INPUT) if upstream else (Direction.INPUT, Direction.OUTPUT)
    at_artifact = step.c.kind == NodeKind.ARTIFACT.value
    joined = or_(
        and_(at_artifact, event.c.artifact_id == step.c.id, event.c.direction == from_artifact.value),
        and_(step.c.kind == NodeKind.EXECUTION.value, event.c.execution_id == step.c.id,
             event.c.direction == from_execution.value),
    )
    recursive = (
        select(
            cast(case((at_artifact, literal(NodeKind.EXECUTION.value)), else_=literal(NodeKind.ARTIFACT.value)), _KIND),
            cast(case((at_artifact, event.c.execution_id), else_=event.c.artifact_id), _ID),
            cast(step.c.depth + 1, Integer),
        )
        .select_from(step.join(event, joined))
        .where(step.c.depth < max_depth)
    )
    walked = start.union(recursive)
    rows = session.execute(
        select(walked.c.kind, walked.c.id, func.min(walked.c.depth)).group_by(walked.c.kind, walked.c.id)
    )
    return {(kind_, id_): int(depth) for kind_, id_, depth in rows}


def _chunks(values: Sequence[str], size: int = 900) -> Iterable[Sequence[str]]:
    for index in range(0, len(values), size):
        yield values[index:index + size]


def subgraph(session: Session, depths: dict[tuple[str, str], int]) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The nodes named in ``depths`` (with run params and metrics) and the events among them."""
    artifact_ids = sorted(i for k, i in depths if k == NodeKind.ARTIFACT.value)
    execution_ids = sorted(i for k, i in depths if k == NodeKind.EXECUTION.value)
    nodes: list[GraphNode] = []
    for ids in _chunks(artifact_ids):
        for row in session.scalars(select(LineageArtifactRow).where(LineageArtifactRow.id.in_(ids))):
            nodes.append(GraphNode(
                key=f"artifact:{row.id}", kind=NodeKind.ARTIFACT, id=row.id, type=row.kind, name=row.name,
                depth=depths[("artifact", row.id)], digest=row.digest, uri=row.uri, properties=row.properties or {},
            ))
    executions = []
    for ids in _chunks(execution_ids):
        executions.extend(session.scalars(select(LineageExecutionRow).where(LineageExecutionRow.id.in_(ids))))
    params, metrics = run_params_and_metrics(session, [row.run_id for row in executions if row.run_id])
    for row in executions:
        nodes.append(GraphNode(
            key=f"execution:{row.id}", kind=NodeKind.EXECUTION, id=row.id, type=row.type, name=row.name,
            depth=depths[("execution", row.id)], run_id=row.run_id, status=row.status,
            properties=row.properties or {}, params=params.get(row.run_id or "", {}),
            metrics=metrics.get(row.run_id or "", {}),
        ))
    nodes.sort(key=lambda node: (node.depth, node.kind.value, node.name, node.id))
    edges: list[GraphEdge] = []
    execution_set = set(execution_ids)
    for ids in _chunks(artifact_ids):
        rows = session.execute(
            select(LineageEventRow.execution_id, LineageEventRow.artifact_id, LineageEventRow.direction)
            .where(LineageEventRow.artifact_id.in_(ids))
            .order_by(LineageEventRow.id)
        )
        for execution_id, artifact_id, direction in rows:
            if execution_id not in execution_set:
                continue
            a, e = f"artifact:{artifact_id}", f"execution:{execution_id}"
            source, target = (a, e) if direction == Direction.INPUT.value else (e, a)
            edges.append(GraphEdge(source=source, target=target, type=Direction(direction)))
    return nodes, edges


def run_params_and_metrics(
    session: Session, run_ids: Sequence[str]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, float]]]:
    params: dict[str, dict[str, str]] = {}
    metrics: dict[str, dict[str, float]] = {}
    for ids in _chunks(list(run_ids)):
        for run_id, key, value in session.execute(
            select(RunRow.id, ParamRow.key, ParamRow.value).join(ParamRow, ParamRow.run_pk == RunRow.pk)
            .where(RunRow.id.in_(ids))
        ):
            params.setdefault(run_id, {})[key] = value
        for run_id, key, value in session.execute(
            select(RunRow.id, LatestMetricRow.key, LatestMetricRow.value)
            .join(LatestMetricRow, LatestMetricRow.run_pk == RunRow.pk)
            .where(RunRow.id.in_(ids))
        ):
            metrics.setdefault(run_id, {})[key] = float("nan") if value is None else value
    return params, metrics
