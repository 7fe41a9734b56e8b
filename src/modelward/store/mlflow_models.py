"""MLflow logged-model queries: functions over a Session returning domain entities. Never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.domain.mlflow_models import LoggedModel, LoggedModelMetric, LoggedModelStatus
from modelward.errors import NotFound
from modelward.store.dialect import aware
from modelward.store.rows import MlflowLoggedModelRow


def _to_entity(row: MlflowLoggedModelRow) -> LoggedModel:
    return LoggedModel(
        id=row.id, experiment_id=row.experiment_id, run_id=row.run_id, name=row.name,
        model_type=row.model_type, status=LoggedModelStatus(row.status), params=dict(row.params or {}),
        tags=dict(row.tags or {}), metrics=[LoggedModelMetric.model_validate(m) for m in row.metrics or []],
        created_by=row.created_by, created_at=aware(row.created_at), updated_at=aware(row.updated_at),
        deleted_at=aware(row.deleted_at) if row.deleted_at else None,
    )


def create(session: Session, **fields: Any) -> LoggedModel:
    row = MlflowLoggedModelRow(**fields)
    session.add(row)
    session.flush()
    return _to_entity(row)


def row_of(session: Session, model_id: str, *, allow_deleted: bool = False) -> MlflowLoggedModelRow:
    row = session.get(MlflowLoggedModelRow, model_id)
    if row is None or (row.deleted_at is not None and not allow_deleted):
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    return row


def get(session: Session, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
    return _to_entity(row_of(session, model_id, allow_deleted=allow_deleted))


def update(session: Session, model_id: str, now: datetime, **fields: Any) -> LoggedModel:
    """Set ``fields`` (whole JSON values: pass new dicts/lists, never mutate the old ones)."""
    row = row_of(session, model_id)
    for key, value in fields.items():
        setattr(row, key, value)
    row.updated_at = now
    session.flush()
    return _to_entity(row)


def in_experiments(session: Session, experiment_ids: Sequence[str]) -> list[LoggedModel]:
    """Live logged models of these experiments, newest first."""
    rows = session.execute(
        select(MlflowLoggedModelRow)
        .where(MlflowLoggedModelRow.experiment_id.in_(list(experiment_ids)), MlflowLoggedModelRow.deleted_at.is_(None))
        .order_by(MlflowLoggedModelRow.created_at.desc(), MlflowLoggedModelRow.id)
    ).scalars()
    return [_to_entity(row) for row in rows]
