"""Dataset checks in the database: appended per dataset, newest first. Never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.domain.expectations import CheckResult, DataCheck
from modelward.store.rows.data_checks import DataCheckRow


def add(session: Session, *, dataset_id: str, dataset_digest: str | None, trigger: str,
        declaration: dict[str, Any], result: CheckResult, checked_by: str | None, checked_at: datetime) -> DataCheck:
    row = DataCheckRow(artifact_id=dataset_id, dataset_digest=dataset_digest, status=result.status,
                       passed=result.passed, trigger=trigger, declaration=declaration,
                       result=result.model_dump(mode="json"), checked_by=checked_by, checked_at=checked_at)
    session.add(row)
    session.flush()
    return _check(row)


def of_dataset(session: Session, dataset_id: str, *, limit: int) -> list[DataCheck]:
    rows = session.scalars(select(DataCheckRow).where(DataCheckRow.artifact_id == dataset_id)
                           .order_by(DataCheckRow.id.desc()).limit(limit))
    return [_check(row) for row in rows]


def get(session: Session, check_id: int) -> DataCheck | None:
    row = session.get(DataCheckRow, check_id)
    return _check(row) if row is not None else None


def _check(row: DataCheckRow) -> DataCheck:
    return DataCheck(id=row.id, dataset_id=row.artifact_id, dataset_digest=row.dataset_digest, status=row.status,
                     passed=row.passed, trigger=row.trigger, declaration=row.declaration,
                     result=CheckResult.model_validate(row.result), checked_by=row.checked_by,
                     checked_at=row.checked_at)
