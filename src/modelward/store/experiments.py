"""Experiment queries: functions over a Session returning domain entities. Never commit."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from modelward.domain.search import Expr, OrderKey
from modelward.domain.tracking import Experiment, Lifecycle
from modelward.errors import AlreadyExists, NotFound
from modelward.store.rows import ExperimentRow, ExperimentTagRow
from modelward.store.dialect import aware, upsert
from modelward.store.search import apply_experiment_order, experiment_filter_clause


def _now() -> datetime:
    return datetime.now(UTC)


def _to_entity(row: ExperimentRow, tags: dict[str, str]) -> Experiment:
    return Experiment(
        id=row.id,
        name=row.name,
        description=row.description,
        lifecycle=Lifecycle(row.lifecycle),
        tags=tags,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        deleted_at=aware(row.deleted_at) if row.deleted_at else None,
    )


def _tags_of(session: Session, experiment_ids: list[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {eid: {} for eid in experiment_ids}
    if experiment_ids:
        rows = session.execute(
            select(ExperimentTagRow).where(ExperimentTagRow.experiment_id.in_(experiment_ids))
        ).scalars()
        for row in rows:
            tags[row.experiment_id][row.key] = row.value
    return tags


def _row(session: Session, experiment_id: str) -> ExperimentRow:
    row = session.get(ExperimentRow, experiment_id)
    if row is None:
        raise NotFound(f"experiment '{experiment_id}' does not exist")
    return row


def create(
    session: Session,
    *,
    experiment_id: str,
    name: str,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> Experiment:
    if session.scalar(select(ExperimentRow.id).where(ExperimentRow.name == name)) is not None:
        raise AlreadyExists(f"an experiment named '{name}' already exists")
    now = _now()
    row = ExperimentRow(
        id=experiment_id, name=name, description=description, lifecycle="active",
        created_at=now, updated_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except sa_exc.IntegrityError:  # a concurrent writer took the name (or the id "0") meanwhile
        raise AlreadyExists(f"an experiment named '{name}' already exists") from None
    if tags:
        set_tags(session, experiment_id, tags)
    return _to_entity(row, dict(tags or {}))


def get(session: Session, experiment_id: str) -> Experiment:
    row = _row(session, experiment_id)
    return _to_entity(row, _tags_of(session, [row.id])[row.id])


def exists(session: Session, experiment_id: str) -> bool:
    return session.scalar(select(ExperimentRow.id).where(ExperimentRow.id == experiment_id)) is not None


def name_of(session: Session, experiment_id: str) -> str:
    return _row(session, experiment_id).name


def find_by_name(session: Session, name: str) -> Experiment | None:
    row = session.scalar(select(ExperimentRow).where(ExperimentRow.name == name))
    if row is None:
        return None
    return _to_entity(row, _tags_of(session, [row.id])[row.id])


def list_(
    session: Session,
    *,
    prefix: str | None = None,
    lifecycle: Lifecycle | None = Lifecycle.ACTIVE,
    name_like: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[Experiment]:
    stmt = select(ExperimentRow).order_by(ExperimentRow.name).limit(limit).offset(offset)
    if lifecycle is not None:
        stmt = stmt.where(ExperimentRow.lifecycle == lifecycle.value)
    if prefix:
        folder = prefix.rstrip("/")
        stmt = stmt.where(
            or_(ExperimentRow.name == folder, func.substr(ExperimentRow.name, 1, len(folder) + 1) == folder + "/")
        )
    if name_like:
        stmt = stmt.where(ExperimentRow.name.ilike(name_like))
    rows = list(session.execute(stmt).scalars())
    tags = _tags_of(session, [row.id for row in rows])
    return [_to_entity(row, tags[row.id]) for row in rows]


def search(
    session: Session,
    expr: Expr | None,
    order_keys: list[OrderKey],
    *,
    lifecycle: Lifecycle | None = Lifecycle.ACTIVE,
    limit: int = 1000,
    offset: int = 0,
) -> list[Experiment]:
    """Experiments matching a filter of the EXPERIMENTS vocabulary, in MLflow's order."""
    stmt = select(ExperimentRow).where(experiment_filter_clause(expr))
    if lifecycle is not None:
        stmt = stmt.where(ExperimentRow.lifecycle == lifecycle.value)
    stmt = apply_experiment_order(stmt, order_keys).limit(limit).offset(offset)
    rows = list(session.execute(stmt).scalars())
    tags = _tags_of(session, [row.id for row in rows])
    return [_to_entity(row, tags[row.id]) for row in rows]


def update(
    session: Session, experiment_id: str, *, name: str | None = None, description: str | None = None
) -> Experiment:
    row = _row(session, experiment_id)
    if name is not None and name != row.name:
        if session.scalar(select(ExperimentRow.id).where(ExperimentRow.name == name)) is not None:
            raise AlreadyExists(f"an experiment named '{name}' already exists")
        row.name = name
    if description is not None:
        row.description = description
    row.updated_at = _now()
    session.flush()
    return get(session, experiment_id)


def set_lifecycle(session: Session, experiment_id: str, lifecycle: Lifecycle) -> Experiment:
    row = _row(session, experiment_id)
    row.lifecycle = lifecycle.value
    row.deleted_at = _now() if lifecycle is Lifecycle.DELETED else None
    row.updated_at = _now()
    session.flush()
    return get(session, experiment_id)


def purge(session: Session, experiment_id: str) -> None:
    """Remove the experiment and everything under it; its name becomes free."""
    _row(session, experiment_id)
    session.execute(delete(ExperimentRow).where(ExperimentRow.id == experiment_id))


def set_tags(session: Session, experiment_id: str, tags: dict[str, str]) -> None:
    upsert(
        session,
        ExperimentTagRow,
        [{"experiment_id": experiment_id, "key": k, "value": v} for k, v in tags.items()],
        keys=["experiment_id", "key"],
        update=["value"],
    )


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ExperimentRow)) or 0


def delete_tag(session: Session, experiment_id: str, key: str) -> None:
    result = session.execute(
        delete(ExperimentTagRow).where(ExperimentTagRow.experiment_id == experiment_id, ExperimentTagRow.key == key)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"No tag with name: {key} in experiment with id {experiment_id}")
