"""Personal-data scans in the database: appended per subject, newest first. Never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelward.domain.personal_data import PersonalDataScan
from modelward.store.rows.personal_data import PersonalDataScanRow


def add(session: Session, *, subject_type: str, subject_id: str, data_digest: str | None, result: dict[str, Any],
        scanned_by: str | None, scanned_at: datetime) -> PersonalDataScan:
    summary = result.get("summary", {})
    row = PersonalDataScanRow(subject_type=subject_type, subject_id=subject_id, data_digest=data_digest,
                              columns_found=len(summary.get("columns_with_personal_data", [])),
                              kinds=list(summary.get("kinds", [])), result=result, scanned_by=scanned_by,
                              scanned_at=scanned_at)
    session.add(row)
    session.flush()
    return _scan(row)


def of_subject(session: Session, subject_type: str, subject_id: str, *, limit: int) -> list[PersonalDataScan]:
    rows = session.scalars(select(PersonalDataScanRow)
                           .where(PersonalDataScanRow.subject_type == subject_type,
                                  PersonalDataScanRow.subject_id == subject_id)
                           .order_by(PersonalDataScanRow.id.desc()).limit(limit))
    return [_scan(row) for row in rows]


def latest_of(session: Session, subject_type: str, subject_ids: list[str]) -> dict[str, PersonalDataScan]:
    """The newest scan of each of ``subject_ids`` that has one."""
    if not subject_ids:
        return {}
    rows = session.scalars(select(PersonalDataScanRow)
                           .where(PersonalDataScanRow.subject_type == subject_type,
                                  PersonalDataScanRow.subject_id.in_(subject_ids))
                           .order_by(PersonalDataScanRow.id.desc()))
    found: dict[str, PersonalDataScan] = {}
    for row in rows:
        found.setdefault(row.subject_id, _scan(row))
    return found


def _scan(row: PersonalDataScanRow) -> PersonalDataScan:
    return PersonalDataScan(id=row.id, subject_type=row.subject_type, subject_id=row.subject_id,
                            data_digest=row.data_digest, columns_found=row.columns_found, kinds=list(row.kinds),
                            result=row.result, scanned_by=row.scanned_by, scanned_at=row.scanned_at)


def get(session: Session, scan_id: int) -> PersonalDataScan | None:
    row = session.get(PersonalDataScanRow, scan_id)
    return _scan(row) if row is not None else None
